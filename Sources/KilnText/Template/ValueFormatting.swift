/// Python's `str()` and `repr()` of template values, which is what `{{ value }}`, `~` and
/// `|string` print: `None`, `True`, `1.0`, `['a', {'k': (1,)}]`.
extension Value {
    /// Python's `str(value)`; undefined prints as nothing. For values of bounded size only;
    /// the renderer uses ``pythonString(limit:)``.
    var pythonString: String {
        (try? pythonString(limit: .max)) ?? ""
    }

    /// Python's `repr(value)`, for values of bounded size.
    var pythonRepr: String {
        (try? pythonRepr(limit: .max)) ?? ""
    }

    /// Python's `str(value)`, refusing to build more than `limit` bytes.
    func pythonString(limit: Int) throws -> String {
        switch self {
        case .undefined: return ""
        case .string(let text), .markup(let text): return text
        case .int(let number): return String(number)
        case .double(let number): return PythonFloat.repr(number)
        default: return try pythonRepr(limit: limit)
        }
    }

    /// Python's `repr(value)`, refusing to build more than `limit` bytes.
    func pythonRepr(limit: Int) throws -> String {
        var output = ""
        var visiting: [ObjectIdentifier] = []
        try appendRepr(to: &output, visiting: &visiting, limit: limit)
        return output
    }

    /// `repr` cut to about 200 bytes, for error messages.
    var shortRepr: String {
        var output = ""
        var visiting: [ObjectIdentifier] = []
        if (try? appendRepr(to: &output, visiting: &visiting, limit: 200)) == nil {
            return String(output.prefix(200)) + "..."
        }
        return output
    }

    private func appendRepr(to output: inout String, visiting: inout [ObjectIdentifier], limit: Int) throws {
        if output.utf8.count > limit {
            throw TemplateError(.limitExceeded, "a value's text exceeds \(limit) bytes")
        }
        switch self {
        case .undefined: output += "Undefined"
        case .none: output += "None"
        case .bool(let flag): output += flag ? "True" : "False"
        case .int(let number): output += String(number)
        case .double(let number): output += PythonFloat.repr(number)
        case .string(let text): PythonFloat.appendStringRepr(text, to: &output)
        case .markup(let text):
            output += "Markup("
            PythonFloat.appendStringRepr(text, to: &output)
            output += ")"
        case .list(let list):
            output += list.isTuple ? "(" : "["
            for (position, item) in list.items.enumerated() {
                if position > 0 { output += ", " }
                try item.appendRepr(to: &output, visiting: &visiting, limit: limit)
            }
            if list.isTuple, list.items.count == 1 { output += "," }
            output += list.isTuple ? ")" : "]"
        case .dict(let dict):
            output += "{"
            for (position, (key, value)) in dict.pairs.enumerated() {
                if position > 0 { output += ", " }
                try key.appendRepr(to: &output, visiting: &visiting, limit: limit)
                output += ": "
                try value.appendRepr(to: &output, visiting: &visiting, limit: limit)
            }
            output += "}"
        case .namespace(let namespace):
            let identity = ObjectIdentifier(namespace)
            output += "<Namespace "
            if visiting.contains(identity) {
                output += "{...}>"
                return
            }
            visiting.append(identity)
            output += "{"
            for (position, (name, value)) in namespace.attributes.enumerated() {
                if position > 0 { output += ", " }
                PythonFloat.appendStringRepr(name, to: &output)
                output += ": "
                try value.appendRepr(to: &output, visiting: &visiting, limit: limit)
            }
            output += "}>"
            visiting.removeLast()
        case .callable(let callable): output += callable.displayText
        case .iterator(let iterator): output += "<\(iterator.typeName) object>"
        case .loop(let loop): output += "<LoopContext \(loop.index)/\(loop.length)>"
        }
    }
}

/// Python's number and string spellings.
enum PythonFloat {
    /// `repr(float)`: the shortest digits that round-trip, fixed notation for decimal exponents
    /// in (-4, 16], scientific otherwise (`1e-05`, `1e+16`), always with a `.0` or exponent.
    static func repr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (digits, pointPosition) = shortestDigits(abs(value))
        let sign = value < 0 ? "-" : ""
        if pointPosition > -4, pointPosition <= 16 {
            if pointPosition <= 0 {
                return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
            }
            if pointPosition >= digits.count {
                return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: pointPosition)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let exponent = pointPosition - 1
        var mantissa = String(digits.first!)
        if digits.count > 1 { mantissa += "." + digits.dropFirst() }
        let exponentDigits = String(abs(exponent))
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+")
            + (exponentDigits.count < 2 ? "0" : "") + exponentDigits
    }

    /// The shortest round-trip significant digits of a positive finite `value` and the position
    /// of the decimal point relative to them (value = 0.d1d2... × 10^position).
    static func shortestDigits(_ value: Double) -> (digits: String, pointPosition: Int) {
        // Swift's description is already the shortest round-trip form; re-read its digits.
        let text = value.description
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var digits = ""
        var pointPosition = 0
        var seenPoint = false
        for character in mantissa {
            if character == "." {
                seenPoint = true
                continue
            }
            digits.append(character)
            if !seenPoint { pointPosition += 1 }
        }
        while digits.first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        return (digits, pointPosition + exponent)
    }

    /// Python's `repr(str)`: single quotes unless the text has `'` and no `"`, escapes for
    /// backslash, the quote, `\t \n \r`, other control and non-printable code points.
    static func appendStringRepr(_ text: String, to output: inout String) {
        let quote: Unicode.Scalar = text.unicodeScalars.contains("'") && !text.unicodeScalars.contains("\"") ? "\"" : "'"
        output.unicodeScalars.append(quote)
        PythonText.appendEscaped(text, to: &output) { scalar in
            switch scalar {
            case quote, "\\": return "\\" + String(scalar)
            case "\t": return "\\t"
            case "\n": return "\\n"
            case "\r": return "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { return "\\x" + hex(scalar.value, width: 2) }
                if scalar.value < 0x7F || isPrintable(scalar) { return nil }
                if scalar.value <= 0xFF { return "\\x" + hex(scalar.value, width: 2) }
                if scalar.value <= 0xFFFF { return "\\u" + hex(scalar.value, width: 4) }
                return "\\U" + hex(scalar.value, width: 8)
            }
        }
        output.unicodeScalars.append(quote)
    }

    /// Python's `str.isprintable()` for one code point.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
