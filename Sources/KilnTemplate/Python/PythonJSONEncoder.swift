/// Python's `json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)`,
/// which is what Hugging Face's `tojson` filter calls (with `ensure_ascii=False` by default).
struct PythonJSONEncoder {
    var ensureASCII = false
    /// The indentation unit; nil writes everything on one line.
    var indent: String?
    var itemSeparator = ", "
    var keySeparator = ": "
    var sortKeys = false
    /// Largest output, in UTF-8 bytes.
    var maxBytes = Int.max

    /// Reads the filter's arguments as `json.dumps` reads its keyword arguments.
    init(indent: Value, separators: Value, sortKeys: Value, ensureASCII: Value, maxBytes: Int) throws {
        self.maxBytes = maxBytes
        switch indent {
        case .none, .undefined: self.indent = nil
        case .string(let text), .markup(let text): self.indent = text
        default:
            guard let width = indent.intValue else {
                throw TemplateError.type("can't multiply sequence by non-int of type '\(indent.typeName)'")
            }
            if width > maxBytes {
                throw TemplateError(.limitExceeded, "tojson indent of \(width) is too large")
            }
            self.indent = String(repeating: " ", count: max(0, width))
        }
        if self.indent != nil { itemSeparator = "," }
        switch separators {
        case .none, .undefined: break
        case .list(let list) where list.items.count == 2:
            guard let item = list.items[0].stringValue, let key = list.items[1].stringValue else {
                throw TemplateError.type("make_encoder() argument 6 must be str, not \(list.items[0].typeName)")
            }
            itemSeparator = item
            keySeparator = key
        default:
            throw TemplateError(.value, "separators must be a (item_separator, key_separator) pair")
        }
        self.sortKeys = sortKeys.isTruthy
        self.ensureASCII = ensureASCII.isTruthy
    }

    func encode(_ value: Value) throws -> String {
        var output = ""
        try append(value, to: &output, level: 0)
        return output
    }

    private func append(_ value: Value, to output: inout String, level: Int) throws {
        if output.utf8.count > maxBytes {
            throw TemplateError(.limitExceeded, "tojson output exceeds \(maxBytes) bytes")
        }
        switch value {
        case .none: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .int(let number): output += String(number)
        case .double(let number): output += Self.floatText(number)
        case .string(let text), .markup(let text): appendString(text, to: &output)
        case .list(let list):
            guard !list.items.isEmpty else {
                output += "[]"
                return
            }
            output += "["
            for (position, item) in list.items.enumerated() {
                output += position == 0 ? "" : itemSeparator
                try appendNewline(to: &output, level: level + 1)
                try append(item, to: &output, level: level + 1)
            }
            try appendNewline(to: &output, level: level)
            output += "]"
        case .dict(let dict):
            guard dict.count > 0 else {
                output += "{}"
                return
            }
            var pairs = Array(dict.pairs)
            if sortKeys {
                var failure: Error?
                pairs.sort { left, right in
                    do { return try PythonOperators.less(left.0, right.0) } catch {
                        failure = failure ?? error
                        return false
                    }
                }
                if let failure { throw failure }
            }
            output += "{"
            for (position, (key, item)) in pairs.enumerated() {
                output += position == 0 ? "" : itemSeparator
                try appendNewline(to: &output, level: level + 1)
                appendString(try keyText(key), to: &output)
                output += keySeparator
                try append(item, to: &output, level: level + 1)
            }
            try appendNewline(to: &output, level: level)
            output += "}"
        default:
            throw TemplateError.type("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    private func appendNewline(to output: inout String, level: Int) throws {
        guard let indent else { return }
        if output.utf8.count + level * indent.utf8.count > maxBytes {
            throw TemplateError(.limitExceeded, "tojson output exceeds \(maxBytes) bytes")
        }
        output += "\n"
        for _ in 0..<level { output += indent }
    }

    private func keyText(_ key: Value) throws -> String {
        switch key {
        case .string(let text), .markup(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .none: return "null"
        case .int(let number): return String(number)
        case .double(let number): return Self.floatText(number)
        default:
            throw TemplateError.type("keys must be str, int, float, bool or None, not \(key.typeName)")
        }
    }

    static func floatText(_ number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number < 0 ? "-Infinity" : "Infinity" }
        return PythonRepr.float(number)
    }

    private func appendString(_ text: String, to output: inout String) {
        output += "\""
        let ensureASCII = self.ensureASCII
        PythonText.appendEscaped(text, to: &output) { scalar in
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case "\n": return "\\n"
            case "\r": return "\\r"
            case "\t": return "\\t"
            case "\u{08}": return "\\b"
            case "\u{0C}": return "\\f"
            default:
                if scalar.value < 0x20 { return "\\u" + PythonRepr.hex(scalar.value, width: 4) }
                guard ensureASCII, scalar.value > 0x7E else { return nil }
                if scalar.value > 0xFFFF {
                    let offset = scalar.value - 0x10000
                    return "\\u" + PythonRepr.hex(0xD800 + (offset >> 10), width: 4)
                        + "\\u" + PythonRepr.hex(0xDC00 + (offset & 0x3FF), width: 4)
                }
                return "\\u" + PythonRepr.hex(scalar.value, width: 4)
            }
        }
        output += "\""
    }
}
