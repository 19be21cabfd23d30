import Foundation

/// Python's `str.format`: `{}`, `{0}`, `{name}`, `{0[key]}`, `{name.attr}`, conversions `!r !s`
/// and format specs `[[fill]align][sign][0][width][,][.precision][type]`.
enum PythonStringFormat {
    /// Widths, precisions and the result are bounded by `maxBytes`.
    static func format(_ template: String, _ arguments: CallArguments, maxBytes: Int = .max) throws -> String {
        let scalars = Array(template.unicodeScalars)
        var output = String.UnicodeScalarView()
        var index = 0
        var automatic = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "}" {
                guard index + 1 < scalars.count, scalars[index + 1] == "}" else {
                    throw TemplateError(.value, "Single '}' encountered in format string")
                }
                output.append("}")
                index += 2
                continue
            }
            guard scalar == "{" else {
                output.append(scalar)
                index += 1
                continue
            }
            if index + 1 < scalars.count, scalars[index + 1] == "{" {
                output.append("{")
                index += 2
                continue
            }
            var end = index + 1
            var nesting = 1
            while end < scalars.count {
                if scalars[end] == "{" { nesting += 1 }
                if scalars[end] == "}" {
                    nesting -= 1
                    if nesting == 0 { break }
                }
                end += 1
            }
            guard end < scalars.count else { throw TemplateError(.value, "expected '}' before end of string") }
            let field = PythonText.string(scalars[(index + 1)..<end])
            output.append(contentsOf: try replacement(field, arguments, &automatic, maxBytes).unicodeScalars)
            if output.count > maxBytes {
                throw TemplateError(.limitExceeded, "format() result would exceed \(maxBytes) bytes")
            }
            index = end + 1
        }
        return String(output)
    }

    private static func replacement(
        _ field: String, _ arguments: CallArguments, _ automatic: inout Int,
        _ maxBytes: Int
    ) throws -> String {
        var reference = field
        var spec = ""
        var conversion: Character?
        if let colon = reference.firstIndex(of: ":") {
            spec = String(reference[reference.index(after: colon)...])
            reference = String(reference[..<colon])
        }
        if let bang = reference.firstIndex(of: "!") {
            conversion = reference[reference.index(after: bang)...].first
            reference = String(reference[..<bang])
        }
        let nameEnd = reference.firstIndex(where: { $0 == "." || $0 == "[" }) ?? reference.endIndex
        let head = String(reference[..<nameEnd])
        var value: Value
        if head.isEmpty {
            guard automatic < arguments.positional.count else {
                throw TemplateError(.value, "Replacement index \(automatic) out of range for positional args tuple")
            }
            value = arguments.positional[automatic]
            automatic += 1
        } else if let position = Int(head) {
            guard position < arguments.positional.count else {
                throw TemplateError(.value, "Replacement index \(position) out of range for positional args tuple")
            }
            value = arguments.positional[position]
        } else {
            guard let keyword = arguments.keywords.first(where: { $0.name == head }) else {
                throw TemplateError(.value, "KeyError: '\(head)'")
            }
            value = keyword.value
        }
        var rest = reference[nameEnd...]
        while let first = rest.first {
            if first == "." {
                let after = rest.dropFirst()
                let end = after.firstIndex(where: { $0 == "." || $0 == "[" }) ?? after.endIndex
                let name = String(after[..<end])
                guard case .dict(let dict) = value, let found = dict.value(forString: name) else {
                    throw TemplateError.runtime("attribute access in format strings is not supported")
                }
                value = found
                rest = after[end...]
            } else {
                guard let close = rest.firstIndex(of: "]") else { throw TemplateError(.value, "Missing ']' in format string") }
                let key = String(rest[rest.index(after: rest.startIndex)..<close])
                switch value {
                case .dict(let dict):
                    guard let found = dict.value(forString: key) else { throw TemplateError(.value, "KeyError: '\(key)'") }
                    value = found
                case .list(let list):
                    guard let position = Int(key), position >= 0, position < list.items.count else {
                        throw TemplateError(.value, "IndexError: list index out of range")
                    }
                    value = list.items[position]
                default:
                    throw TemplateError.type("'\(value.typeName)' object is not subscriptable")
                }
                rest = rest[rest.index(after: close)...]
            }
        }
        switch conversion {
        case "r", "a": value = .string(try value.pythonRepr(limit: maxBytes))
        case "s": value = .string(try value.pythonString(limit: maxBytes))
        default: break
        }
        return try formatValue(value, spec: spec, maxBytes: maxBytes)
    }

    /// `format(value, spec)` for strings, integers and floats.
    static func formatValue(_ value: Value, spec: String, maxBytes: Int = .max) throws -> String {
        if spec.isEmpty { return try value.pythonString(limit: maxBytes) }
        var scalars = Array(spec.unicodeScalars)
        var fill: String = " "
        var alignment: StringPadding.Alignment?
        func alignmentFor(_ scalar: Unicode.Scalar) -> StringPadding.Alignment? {
            switch scalar {
            case "<": return .left
            case ">": return .right
            case "^": return .center
            case "=": return .afterSign
            default: return nil
            }
        }
        if scalars.count >= 2, let align = alignmentFor(scalars[1]) {
            fill = String(Character(scalars[0]))
            alignment = align
            scalars.removeFirst(2)
        } else if let first = scalars.first, let align = alignmentFor(first) {
            alignment = align
            scalars.removeFirst()
        }
        var sign: Unicode.Scalar = "-"
        if let first = scalars.first, first == "+" || first == "-" || first == " " {
            sign = first
            scalars.removeFirst()
        }
        if scalars.first == "0" {
            if alignment == nil {
                alignment = .afterSign
                fill = "0"
            }
            scalars.removeFirst()
        }
        var width = 0
        while let first = scalars.first, ("0"..."9").contains(first) {
            width = min(width * 10 + Int(first.value - 48), Int(Int32.max))
            scalars.removeFirst()
        }
        var grouping = false
        if scalars.first == "," {
            grouping = true
            scalars.removeFirst()
        }
        var precision: Int?
        if scalars.first == "." {
            scalars.removeFirst()
            var digits = 0
            while let first = scalars.first, ("0"..."9").contains(first) {
                digits = min(digits * 10 + Int(first.value - 48), Int(Int32.max))
                scalars.removeFirst()
            }
            precision = digits
        }
        if width > maxBytes || (precision ?? 0) > maxBytes {
            throw TemplateError(.limitExceeded, "format width or precision exceeds \(maxBytes)")
        }
        let type = scalars.first.map { Character($0) }
        var body: String
        var negative = false
        switch value {
        case .string(let text), .markup(let text):
            guard type == nil || type == "s" else {
                throw TemplateError(.value, "Unknown format code '\(type!)' for object of type 'str'")
            }
            body = precision.map { PythonText.string(text.unicodeScalars.prefix($0)) } ?? text
            return StringPadding.pad(body, width: width, fill: fill, alignment: alignment ?? .left)
        case .int, .bool, .double:
            let isInteger = value.intValue != nil
            let number = value.doubleValue ?? 0
            negative = number.sign == .minus && number != 0 || (value.intValue ?? 0) < 0
            switch type {
            case nil where isInteger, "d", "n":
                guard let integer = value.intValue else {
                    throw TemplateError(.value, "Unknown format code 'd' for object of type 'float'")
                }
                body = String(integer.magnitude)
            case "x", "X", "o", "b":
                guard let integer = value.intValue else {
                    throw TemplateError(.value, "Unknown format code '\(type!)' for object of type 'float'")
                }
                let radix = type == "o" ? 8 : type == "b" ? 2 : 16
                body = String(integer.magnitude, radix: radix, uppercase: type == "X")
            case "f", "F", "e", "E", "g", "G", "%":
                let scaled = type == "%" ? abs(number) * 100 : abs(number)
                let code = type == "%" ? "f" : String(type!)
                body = String(format: "%.\(precision ?? 6)\(code)", scaled) + (type == "%" ? "%" : "")
            case nil:
                if let precision {
                    body = String(format: "%.\(max(precision, 1))g", abs(number))
                } else {
                    body = PythonRepr.float(abs(number))
                }
            default:
                throw TemplateError(.value, "Unknown format code '\(type!)' for object of type '\(value.typeName)'")
            }
            if grouping { body = StringPadding.groupThousands(body) }
        default:
            return StringPadding.pad(try value.pythonString(limit: maxBytes), width: width, fill: fill, alignment: alignment ?? .left)
        }
        let signText = negative ? "-" : sign == "+" ? "+" : sign == " " ? " " : ""
        if alignment == .afterSign {
            return signText + StringPadding.pad(body, width: width - signText.count, fill: fill, alignment: .right)
        }
        return StringPadding.pad(signText + body, width: width, fill: fill, alignment: alignment ?? .right)
    }
}
