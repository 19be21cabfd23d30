/// Python's number and string spellings.
enum PythonRepr {
    /// `repr(float)`: the shortest digits that round-trip, fixed notation for decimal exponents
    /// in (-4, 16], scientific otherwise (`1e-05`, `1e+16`), always with a `.0` or exponent.
    static func float(_ value: Double) -> String {
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
    static func appendString(_ text: String, to output: inout String) {
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
