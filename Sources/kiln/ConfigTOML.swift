/// A value read from the configuration file.
enum ConfigValue: Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])

    var description: String {
        switch self {
        case .string(let text): return "\"" + ConfigTOML.escape(text) + "\""
        case .integer(let number): return String(number)
        case .double(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// A configuration file the reader refused, with the line at fault.
struct ConfigError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }

    static func syntax(_ file: String, line: Int, _ message: String) -> ConfigError {
        ConfigError("\(file):\(line): \(message)")
    }
}

/// Reads the subset of TOML that `Config/kiln.toml` uses: `[section]` tables, `key = value` with
/// strings (basic and literal), integers, floats, booleans and single-line arrays of those, and
/// `#` comments. Anything else is an error with its line number rather than a guess.
enum ConfigTOML {
    /// Parses `text`; keys come back as `section.key`.
    static func parse(_ text: String, file: String = "config") throws -> [String: ConfigValue] {
        var values: [String: ConfigValue] = [:]
        var section = ""
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = offset + 1
            var scanner = Scanner(Substring(rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine))
            scanner.skipWhitespace()
            if scanner.atEndOrComment { continue }
            if scanner.peek == "[" {
                scanner.advance()
                let name = scanner.take { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
                guard !name.isEmpty, scanner.peek == "]" else {
                    throw ConfigError.syntax(file, line: lineNumber, "malformed table header")
                }
                scanner.advance()
                scanner.skipWhitespace()
                guard scanner.atEndOrComment else { throw ConfigError.syntax(file, line: lineNumber, "text after table header") }
                section = name
                continue
            }
            let key = scanner.take { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
            guard !key.isEmpty else { throw ConfigError.syntax(file, line: lineNumber, "expected a key") }
            scanner.skipWhitespace()
            guard scanner.peek == "=" else { throw ConfigError.syntax(file, line: lineNumber, "expected '=' after \(key)") }
            scanner.advance()
            scanner.skipWhitespace()
            let value: ConfigValue
            do {
                value = try scanner.value()
            } catch let error as ConfigError {
                throw ConfigError.syntax(file, line: lineNumber, error.description)
            }
            scanner.skipWhitespace()
            guard scanner.atEndOrComment else { throw ConfigError.syntax(file, line: lineNumber, "text after the value of \(key)") }
            let fullKey = section.isEmpty ? key : "\(section).\(key)"
            guard values[fullKey] == nil else { throw ConfigError.syntax(file, line: lineNumber, "duplicate key \(fullKey)") }
            values[fullKey] = value
        }
        return values
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default: result.append(character)
            }
        }
        return result
    }

    private struct Scanner {
        var rest: Substring

        init(_ text: Substring) { rest = text }

        var peek: Character? { rest.first }
        var atEndOrComment: Bool { rest.isEmpty || rest.first == "#" }

        mutating func advance() { rest = rest.dropFirst() }

        mutating func skipWhitespace() {
            while let first = rest.first, first == " " || first == "\t" { rest = rest.dropFirst() }
        }

        mutating func take(while predicate: (Character) -> Bool) -> String {
            let taken = rest.prefix(while: predicate)
            rest = rest.dropFirst(taken.count)
            return String(taken)
        }

        mutating func value() throws -> ConfigValue {
            guard let first = peek else { throw ConfigError("missing value") }
            switch first {
            case "\"": return .string(try basicString())
            case "'": return .string(try literalString())
            case "[": return try array()
            default:
                let token = take { !$0.isWhitespace && $0 != "," && $0 != "]" && $0 != "#" }
                if token == "true" { return .bool(true) }
                if token == "false" { return .bool(false) }
                let digits = token.replacingUnderscores()
                if let integer = Int(digits) { return .integer(integer) }
                if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let double = Double(digits),
                   double.isFinite {
                    return .double(double)
                }
                throw ConfigError("invalid value '\(token)' (strings need quotes)")
            }
        }

        mutating func basicString() throws -> String {
            advance()
            var result = ""
            while let character = peek {
                advance()
                switch character {
                case "\"": return result
                case "\\":
                    guard let escaped = peek else { throw ConfigError("unterminated string") }
                    advance()
                    switch escaped {
                    case "n": result += "\n"
                    case "t": result += "\t"
                    case "r": result += "\r"
                    case "\"": result += "\""
                    case "\\": result += "\\"
                    case "u":
                        let hex = String(rest.prefix(4))
                        guard hex.count == 4, let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
                            throw ConfigError("invalid \\u escape")
                        }
                        rest = rest.dropFirst(4)
                        result.unicodeScalars.append(scalar)
                    default: throw ConfigError("unknown escape \\\(escaped)")
                    }
                default: result.append(character)
                }
            }
            throw ConfigError("unterminated string")
        }

        mutating func literalString() throws -> String {
            advance()
            let content = take { $0 != "'" }
            guard peek == "'" else { throw ConfigError("unterminated string") }
            advance()
            return content
        }

        mutating func array() throws -> ConfigValue {
            advance()
            var elements: [ConfigValue] = []
            while true {
                skipWhitespace()
                if peek == "]" { advance(); return .array(elements) }
                elements.append(try value())
                skipWhitespace()
                if peek == "," { advance(); continue }
                guard peek == "]" else { throw ConfigError("expected ',' or ']' in array") }
            }
        }
    }
}

private extension String {
    /// TOML allows `1_000_000`; a leading sign is kept.
    func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
