import Foundation

/// Python's printf-style `format % values`, used by the `%` operator on strings and the
/// `format` filter: `%s %r %d %i %f %e %g %x %o %c %%` with flags, width, precision and
/// `%(name)s` keys.
enum PrintfFormatter {
    /// `escapingText` is MarkupSafe's `Markup % values`: `%s` and `%r` results are HTML-escaped.
    /// Widths, precisions and the result are bounded by `maxBytes`.
    static func format(_ format: String, _ values: Value, escapingText: Bool = false, maxBytes: Int = .max) throws -> String {
        func tooLarge() -> TemplateError {
            TemplateError(.limitExceeded, "formatted string would exceed \(maxBytes) bytes")
        }
        var positional: [Value]
        var mapping: DictStorage?
        // Python skips the "not all arguments converted" check for any argument that supports
        // subscripting (dict, list, Undefined), not only for dicts.
        var subscriptable = false
        switch values {
        case .list(let list) where list.isTuple: positional = list.items
        case .dict(let dict):
            positional = [values]
            mapping = dict
            subscriptable = true
        case .list, .undefined:
            positional = [values]
            subscriptable = true
        default: positional = [values]
        }
        let scalars = Array(format.unicodeScalars)
        var output = ""
        var next = 0
        var index = 0
        var usedMapping = false
        func nextArgument() throws -> Value {
            guard next < positional.count else { throw TemplateError.type("not enough arguments for format string") }
            defer { next += 1 }
            return positional[next]
        }
        while index < scalars.count {
            let scalar = scalars[index]
            guard scalar == "%" else {
                output.unicodeScalars.append(scalar)
                index += 1
                continue
            }
            index += 1
            guard index < scalars.count else { throw TemplateError(.value, "incomplete format") }
            var argument: Value?
            if scalars[index] == "(" {
                if case .undefined(let undefined) = values { throw undefined.error }
                guard let dict = mapping else { throw TemplateError.type("format requires a mapping") }
                var end = index + 1
                while end < scalars.count, scalars[end] != ")" { end += 1 }
                guard end < scalars.count else { throw TemplateError(.value, "incomplete format key") }
                let key = PythonText.string(scalars[(index + 1)..<end])
                guard let value = dict.value(forString: key) else { throw TemplateError(.value, "KeyError: '\(key)'") }
                argument = value
                usedMapping = true
                index = end + 1
            }
            var flags = Set<Unicode.Scalar>()
            while index < scalars.count, "-+ #0".unicodeScalars.contains(scalars[index]) {
                flags.insert(scalars[index])
                index += 1
            }
            var width = 0
            if index < scalars.count, scalars[index] == "*" {
                width = try nextArgument().intValue ?? 0
                index += 1
            }
            while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                width = min(width * 10 + Int(scalars[index].value - 48), Int(Int32.max))
                index += 1
            }
            var precision: Int?
            if index < scalars.count, scalars[index] == "." {
                index += 1
                var digits = 0
                while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                    digits = min(digits * 10 + Int(scalars[index].value - 48), Int(Int32.max))
                    index += 1
                }
                precision = digits
            }
            if width > maxBytes || (precision ?? 0) > maxBytes { throw tooLarge() }
            while index < scalars.count, "hlL".unicodeScalars.contains(scalars[index]) { index += 1 }
            guard index < scalars.count else { throw TemplateError(.value, "incomplete format") }
            let conversion = scalars[index]
            index += 1
            if conversion == "%" {
                output += "%"
                continue
            }
            let value = try argument ?? nextArgument()
            var text = try convert(value, conversion, flags: flags, precision: precision, maxBytes: maxBytes)
            if escapingText, "sra".unicodeScalars.contains(conversion), !(conversion == "s" && value.isMarkup) {
                text = HTMLEscaping.escape(text)
            }
            let length = PythonText.length(text)
            if width > length {
                let padding = width - length
                if flags.contains("-") {
                    text += String(repeating: " ", count: padding)
                } else if flags.contains("0"), "diouxXeEfFgG".unicodeScalars.contains(conversion) {
                    let signed = text.hasPrefix("-") || text.hasPrefix("+") || text.hasPrefix(" ")
                    let sign = signed ? String(text.removeFirst()) : ""
                    text = sign + String(repeating: "0", count: padding) + text
                } else {
                    text = String(repeating: " ", count: padding) + text
                }
            }
            output += text
            if output.utf8.count > maxBytes { throw tooLarge() }
        }
        if !usedMapping, !subscriptable, next < positional.count {
            throw TemplateError.type("not all arguments converted during string formatting")
        }
        return output
    }

    private static func convert(
        _ value: Value, _ conversion: Unicode.Scalar, flags: Set<Unicode.Scalar>,
        precision: Int?, maxBytes: Int
    ) throws -> String {
        func sign(_ negative: Bool) -> String {
            negative ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : ""
        }
        switch conversion {
        case "s":
            let text = try value.pythonString(limit: maxBytes)
            return precision.map { PythonText.string(text.unicodeScalars.prefix($0)) } ?? text
        case "r", "a":
            let text = try value.pythonRepr(limit: maxBytes)
            return precision.map { PythonText.string(text.unicodeScalars.prefix($0)) } ?? text
        case "d", "i", "u":
            guard let number = value.intValue ?? value.doubleValue.flatMap({ $0.isFinite ? Int(exactly: $0.rounded(.towardZero)) : nil }) else {
                throw TemplateError.type("%\(Character(conversion)) format: a real number is required, not \(value.typeName)")
            }
            return sign(number < 0) + String(number.magnitude)
        case "x", "X", "o":
            guard let number = value.intValue else {
                throw TemplateError.type("%\(Character(conversion)) format: an integer is required, not \(value.typeName)")
            }
            var digits = String(number.magnitude, radix: conversion == "o" ? 8 : 16, uppercase: conversion == "X")
            if flags.contains("#") { digits = (conversion == "o" ? "0o" : conversion == "x" ? "0x" : "0X") + digits }
            return sign(number < 0) + digits
        case "e", "E", "f", "F", "g", "G":
            guard let number = value.doubleValue else {
                throw TemplateError.type("must be real number, not \(value.typeName)")
            }
            if !number.isFinite {
                let text = number.isNaN ? "nan" : "inf"
                let cased = conversion.properties.isUppercase ? text.uppercased() : text
                return sign(number < 0) + cased
            }
            let alternate = flags.contains("#") ? "#" : ""
            let text = String(format: "%\(alternate).\(precision ?? 6)\(Character(conversion))", abs(number))
            return sign(number.sign == .minus) + text
        case "c":
            if let code = value.intValue, let scalar = Unicode.Scalar(UInt32(clamping: max(0, code))) {
                return String(Character(scalar))
            }
            if let text = value.stringValue, text.unicodeScalars.count == 1 { return text }
            throw TemplateError.type("%c requires an int or a unicode character")
        default:
            throw TemplateError(.value, "unsupported format character '\(Character(conversion))'")
        }
    }
}
