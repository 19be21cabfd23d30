import TOMLKit

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

/// Reads the configuration file with TOMLKit (toml++ underneath: all of TOML 1.0, errors with
/// their line and column). Kiln's settings are `[section]` tables of strings, integers, floats,
/// booleans and arrays of those; anything else (a date, a table nested in a section) is an error
/// that names the key rather than a guess.
enum ConfigTOML {
    /// Parses `text`; keys come back as `section.key`.
    static func parse(_ text: String, file: String = "config") throws -> [String: ConfigValue] {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError.syntax(file, line: error.source.begin.line, "\(error.description) (column \(error.source.begin.column))")
        }
        var values: [String: ConfigValue] = [:]
        for (name, node) in root {
            if let section = node.table {
                for (key, value) in section {
                    values["\(name).\(key)"] = try configValue(value, key: "\(name).\(key)", file: file)
                }
            } else {
                values[name] = try configValue(node, key: name, file: file)
            }
        }
        return values
    }

    private static func configValue(_ node: TOMLValueConvertible, key: String, file: String) throws -> ConfigValue {
        switch node.type {
        case .string: return .string(node.string ?? "")
        case .int: return .integer(node.int ?? 0)
        case .double: return .double(node.double ?? 0)
        case .bool: return .bool(node.bool ?? false)
        case .array:
            return .array(try (node.array ?? []).map { try configValue($0, key: key, file: file) })
        default:
            throw ConfigError("\(file): \(key) is a TOML \(node.type), which no Kiln setting takes")
        }
    }

    /// Escapes `text` for a TOML basic string.
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
}
