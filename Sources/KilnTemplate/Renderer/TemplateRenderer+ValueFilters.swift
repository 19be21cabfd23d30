import Foundation

/// Filters that convert or format scalars: `int`, `float`, `round`, `filesizeformat`,
/// `urlencode`, `xmlattr`.
extension TemplateRenderer {
    /// jinja2's `int` filter: `int(value)`, else `int(float(value))`, else the default.
    func toInt(_ input: Value, default defaultValue: Value, base: Int) throws -> Value {
        switch input {
        case .undefined(let undefined):
            throw undefined.error
        case .int, .bool:
            return .int(input.intValue!)
        case .double(let number):
            guard number.isFinite, abs(number) < 9.2e18 else { return defaultValue }
            return .int(Int(number.rounded(.towardZero)))
        case .string(let text), .markup(let text):
            if let number = Self.parsePythonInt(text, base: base) { return .int(number) }
            if base == 10, let number = Self.parsePythonFloat(text), number.isFinite, abs(number) < 9.2e18 {
                return .int(Int(number.rounded(.towardZero)))
            }
            return defaultValue
        default:
            return defaultValue
        }
    }

    /// jinja2's `float` filter without the default: nil where Python's `float()` fails.
    func toFloat(_ input: Value) throws -> Value? {
        switch input {
        case .undefined(let undefined): throw undefined.error
        case .int, .bool: return .double(input.doubleValue!)
        case .double: return input
        case .string(let text), .markup(let text): return Self.parsePythonFloat(text).map { .double($0) }
        default: return nil
        }
    }

    /// Python's `int(text, base)`: surrounding whitespace, a sign, underscores between digits,
    /// and a `0x`/`0o`/`0b` prefix matching the base.
    static func parsePythonInt(_ text: String, base: Int) -> Int? {
        var body = PythonText.strip(text, chars: nil)
        var negative = false
        if let first = body.first, first == "+" || first == "-" {
            negative = first == "-"
            body.removeFirst()
        }
        let lowered = body.lowercased()
        for (prefix, prefixBase) in [("0x", 16), ("0o", 8), ("0b", 2)] where lowered.hasPrefix(prefix) && (base == prefixBase || base == 0) {
            body = String(body.dropFirst(2))
            if body.hasPrefix("_") { body.removeFirst() }
            return parseDigits(body, base: prefixBase, negative: negative)
        }
        return parseDigits(body, base: base == 0 ? 10 : base, negative: negative)
    }

    private static func parseDigits(_ body: String, base: Int, negative: Bool) -> Int? {
        guard !body.isEmpty, !body.hasPrefix("_"), !body.hasSuffix("_"), !body.contains("__") else { return nil }
        guard let magnitude = Int(body.replacingOccurrences(of: "_", with: ""), radix: base) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// Python's `float(text)`: decimal or scientific, `inf`, `nan`, underscores between digits.
    static func parsePythonFloat(_ text: String) -> Double? {
        let body = PythonText.strip(text, chars: nil)
        let lowered = body.lowercased()
        let unsigned = lowered.hasPrefix("-") || lowered.hasPrefix("+") ? String(lowered.dropFirst()) : lowered
        if ["inf", "infinity"].contains(unsigned) { return lowered.hasPrefix("-") ? -.infinity : .infinity }
        if unsigned == "nan" { return .nan }
        guard !body.isEmpty, !body.contains("__"), !body.hasPrefix("_"), !body.hasSuffix("_") else { return nil }
        let cleaned = body.replacingOccurrences(of: "_", with: "")
        guard cleaned.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
            cleaned.contains(where: { $0.isNumber })
        else { return nil }
        return Double(cleaned)
    }

    func round(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["precision", "method"], function: "do_round")
        let precision = bound[0]?.intValue ?? 0
        let method = bound[1]?.stringValue ?? "common"
        guard ["common", "ceil", "floor"].contains(method) else {
            throw TemplateError.filterArgument("method must be common, ceil or floor")
        }
        if case .undefined = input, method == "common" {
            throw TemplateError.type("type Undefined doesn't define __round__ method")
        }
        guard let number = input.doubleValue else {
            if case .undefined(let undefined) = input { throw undefined.error }
            throw TemplateError.type("type \(input.typeName) doesn't define __round__ method")
        }
        if method != "common" {
            let scale = pow(10, Double(precision))
            let scaled = number * scale
            return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
        }
        if let integer = input.intValue {
            guard precision < 0 else { return .int(integer) }
            let unit = Double(pow(10, Double(-precision)))
            return .int(Int((Double(integer) / unit).rounded(.toNearestOrEven) * unit))
        }
        guard number.isFinite else { return .double(number) }
        if precision >= 0 {
            // printf rounds the exact binary value half-to-even, as Python's round() does.
            let text = String(format: "%.\(Swift.min(precision, 340))f", number)
            return .double(Double(text) ?? number)
        }
        let unit = pow(10, Double(-precision))
        return .double((number / unit).rounded(.toNearestOrEven) * unit)
    }

    func fileSize(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["binary"], function: "do_filesizeformat")
        guard let bytes = try toFloat(input)?.doubleValue else {
            throw TemplateError(.value, "could not convert \(input.typeName) to float")
        }
        let binary = bound[0]?.isTruthy ?? false
        let base: Double = binary ? 1024 : 1000
        let prefixes =
            binary
            ? ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
            : ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
        if bytes == 1 { return .string("1 Byte") }
        if bytes < base { return .string("\(Int(bytes)) Bytes") }
        var unit = base
        for prefix in prefixes {
            unit *= base
            if bytes < unit || prefix == prefixes.last! {
                return .string(String(format: "%.1f ", base * bytes / unit) + prefix)
            }
        }
        return .string("")
    }

    func urlEncode(_ input: Value) throws -> String {
        func quote(_ value: Value, forQuery: Bool) -> String {
            let safe = forQuery ? "" : "/"
            var result = ""
            for byte in value.pythonString.utf8 {
                let scalar = Unicode.Scalar(byte)
                if (byte < 0x80 && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
                    || "_.-~".unicodeScalars.contains(scalar) || safe.unicodeScalars.contains(scalar)
                {
                    result.unicodeScalars.append(scalar)
                } else if forQuery, byte == 0x20 {
                    result += "+"
                } else {
                    result += "%" + PythonRepr.hex(UInt32(byte), width: 2).uppercased()
                }
            }
            return result
        }
        switch input {
        case .string, .markup, .int, .double, .bool, .none, .undefined:
            return quote(input, forQuery: false)
        case .dict(let dict):
            return dict.pairs.map { quote($0.0, forQuery: true) + "=" + quote($0.1, forQuery: true) }.joined(separator: "&")
        default:
            return try iterate(input).map { pair -> String in
                let parts = try iterate(pair)
                guard parts.count == 2 else { throw TemplateError(.value, "urlencode expects key-value pairs") }
                return quote(parts[0], forQuery: true) + "=" + quote(parts[1], forQuery: true)
            }.joined(separator: "&")
        }
    }

    func xmlAttributes(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["autospace"], function: "do_xmlattr")
        if case .undefined(let undefined) = input { throw undefined.error }
        guard case .dict(let dict) = input else {
            throw TemplateError(.attribute, "'\(input.typeName)' object has no attribute 'items'")
        }
        var items: [String] = []
        for (key, value) in dict.pairs {
            if case .none = value { continue }
            if value.isUndefined { continue }
            let name = key.pythonString
            if name.unicodeScalars.contains(where: { PythonText.isWhitespace($0) && $0.isASCII || "/>=".unicodeScalars.contains($0) }) {
                throw TemplateError(.value, "Invalid character in attribute name: \(key.shortRepr)")
            }
            items.append("\(HTMLEscaping.escape(name))=\"\(HTMLEscaping.escape(value.pythonString))\"")
        }
        var text = items.joined(separator: " ")
        if bound[0]?.isTruthy ?? true, !text.isEmpty { text = " " + text }
        return .string(text)
    }
}
