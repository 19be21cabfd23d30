import Foundation

/// The filters of jinja2 3.1 with Hugging Face's `tojson`. Aliases (`d`, `e`, `count`) resolve to
/// the same case.
enum BuiltinFilter: String, CaseIterable, Sendable {
    case abs, attr, batch, capitalize, center, `default`, dictsort, escape, filesizeformat, first
    case float, forceescape, format, groupby, indent, int, items, join, last, length, list, lower
    case map, max, min, pprint, random, reject, rejectattr, replace, reverse, round, safe, select
    case selectattr, slice, sort, string, striptags, sum, title, tojson, trim, truncate, unique
    case upper, urlencode, wordcount, wordwrap, xmlattr

    init?(name: String) {
        switch name {
        case "d": self = .default
        case "e": self = .escape
        case "count": self = .length
        default: self.init(rawValue: name)
        }
    }
}

/// Filter application. Collection filters live in `TemplateRenderer+CollectionFilters.swift`.
extension TemplateRenderer {
    func applyFilter(
        _ filter: BuiltinFilter?, name: String, to input: Value, arguments: TemplateArguments,
        scope: Scope
    ) throws -> Value {
        let evaluated = try evaluateArguments(arguments, scope)
        guard let filter else { throw TemplateError.runtime("No filter named '\(name)' found.") }
        return try runFilter(filter, input, evaluated)
    }

    /// Applies a filter named at render time (`map('upper')`).
    func runFilter(named name: String, _ input: Value, _ arguments: CallArguments) throws -> Value {
        guard let filter = BuiltinFilter(name: name) else {
            throw TemplateError.runtime("No filter named '\(name)'.")
        }
        return try runFilter(filter, input, arguments)
    }

    func runFilter(_ filter: BuiltinFilter, _ input: Value, _ arguments: CallArguments) throws -> Value {
        try chargeWork(for: input)
        let name = "do_\(filter.rawValue)"
        switch filter {
        case .tojson:
            let bound = try arguments.bind(["ensure_ascii", "indent", "separators", "sort_keys"], function: "tojson")
            let encoder = try PythonJSONEncoder(
                indent: bound[1] ?? .none, separators: bound[2] ?? .none,
                sortKeys: bound[3] ?? .bool(false), ensureASCII: bound[0] ?? .bool(false),
                maxBytes: limits.maxOutputBytes)
            let text = try encoder.encode(input)
            try checkSize(text)
            return .string(text)
        case .default:
            let bound = try arguments.bind(["default_value", "boolean"], function: name)
            if input.isUndefined || ((bound[1]?.isTruthy ?? false) && !input.isTruthy) {
                return bound[0] ?? .emptyString
            }
            return input
        case .string:
            _ = try arguments.bind([], function: name)
            if input.stringValue != nil { return input }
            let text = try self.text(input)
            try checkSize(text)
            return .string(text)
        case .trim:
            let bound = try arguments.bind(["chars"], function: name)
            var chars: String?
            if let value = bound[0], !value.isUndefined, !isNone(value) { chars = try self.text(value) }
            return .string(PythonText.strip(try softString(input), chars: chars))
        case .upper:
            return .string(PythonText.upper(try softString(input)))
        case .lower:
            return .string(PythonText.lower(try softString(input)))
        case .capitalize:
            return .string(PythonText.capitalize(try softString(input)))
        case .title:
            return .string(titleWords(try softString(input)))
        case .replace:
            let bound = try arguments.bind(["old", "new", "count"], function: name)
            guard let old = bound[0], let new = bound[1] else {
                throw TemplateError.type("do_replace() missing required arguments 'old' and 'new'")
            }
            let count: Int
            switch bound[2] {
            case nil, .some(.none): count = -1
            case .some(let value):
                guard let number = value.intValue else {
                    throw TemplateError.type("'\(value.typeName)' object cannot be interpreted as an integer")
                }
                count = number
            }
            let text = try PythonText.replace(
                try self.text(input), try self.text(old), try self.text(new), count: count,
                maxBytes: limits.maxOutputBytes)
            try checkSize(text)
            return .string(text)
        case .safe:
            if case .markup = input { return input }
            return .markup(try text(input))
        case .escape, .forceescape:
            if filter == .escape, case .markup = input { return input }
            let text = HTMLEscaping.escape(try self.text(input))
            try checkSize(text)
            return .markup(text)
        case .indent:
            return try indent(input, arguments)
        case .center:
            let bound = try arguments.bind(["width"], function: name)
            let width = bound[0]?.intValue ?? 80
            if width > limits.maxOutputBytes { throw TemplateError(.limitExceeded, "center() width exceeds the output limit") }
            return .string(StringPadding.pad(try softString(input), width: width, fill: " ", alignment: .center))
        case .truncate:
            return try truncate(input, arguments)
        case .wordcount:
            var count = 0
            var inWord = false
            for scalar in try softString(input).unicodeScalars {
                let isWord = PythonText.isWordCharacter(scalar)
                if isWord, !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        case .wordwrap:
            return try wordWrap(input, arguments)
        case .striptags:
            return .string(stripTags(try text(input)))
        case .format:
            let format = try softString(input)
            if !arguments.positional.isEmpty, !arguments.keywords.isEmpty {
                throw TemplateError.filterArgument("can't handle positional and keyword arguments at the same time")
            }
            let values: Value =
                arguments.keywords.isEmpty
                ? .tuple(arguments.positional)
                : .dict(try DictStorage(pairs: arguments.keywords.map { (.string($0.name), $0.value) }))
            let text = try PrintfFormatter.format(format, values)
            try checkSize(text)
            return .string(text)
        case .int:
            let bound = try arguments.bind(["default", "base"], function: name)
            return try toInt(input, default: bound[0] ?? .int(0), base: bound[1]?.intValue ?? 10)
        case .float:
            let bound = try arguments.bind(["default"], function: name)
            return try toFloat(input) ?? bound[0] ?? .double(0)
        case .abs:
            if let number = input.intValue {
                if number == .min { throw PythonOperators.overflow() }
                return .int(Swift.abs(number))
            }
            if case .double(let number) = input { return .double(Swift.abs(number)) }
            throw TemplateError.type("bad operand type for abs(): '\(input.typeName)'")
        case .round:
            return try round(input, arguments)
        case .filesizeformat:
            return try fileSize(input, arguments)
        case .urlencode:
            let text = try urlEncode(input)
            try checkSize(text)
            return .string(text)
        case .xmlattr:
            return try xmlAttributes(input, arguments)
        case .pprint:
            return .string(try input.pythonRepr(limit: limits.maxOutputBytes))
        case .attr:
            let bound = try arguments.bind(["name"], function: name)
            if case .undefined(let undefined) = input { throw undefined.error }
            guard let attributeName = bound[0]?.stringValue else { return .undefined(hint: "attribute name must be a string") }
            switch input {
            case .namespace, .loop: return try attribute(attributeName, of: input)
            default:
                return pythonAttribute(attributeName, of: input)
                    ?? .undefined(UndefinedValue(missing: .string(attributeName), of: input))
            }
        default:
            return try runCollectionFilter(filter, input, arguments)
        }
    }

    /// jinja2's `soft_str`: strings stay as they are, anything else goes through `str()`.
    func softString(_ value: Value) throws -> String {
        if let text = value.stringValue { return text }
        let text = try self.text(value)
        try checkSize(text)
        return text
    }

    /// The `title` filter: capitalizes each word, words being split at `-`, whitespace and brackets.
    private func titleWords(_ text: String) -> String {
        if let ascii = PythonText.mapASCII(
            text,
            { bytes in
                var atWordStart = true
                for index in bytes.indices {
                    let byte = bytes[index]
                    if byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) || (byte >= 0x1C && byte <= 0x1F) || "-({[<".utf8.contains(byte) {
                        atWordStart = true
                    } else if atWordStart {
                        if byte >= 0x61 && byte <= 0x7A { bytes[index] = byte - 0x20 }
                        atWordStart = false
                    } else if byte >= 0x41 && byte <= 0x5A {
                        bytes[index] = byte + 0x20
                    }
                }
            })
        {
            return ascii
        }
        var result = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            let isSeparator = PythonText.isWhitespace(scalar) || "-({[<".unicodeScalars.contains(scalar)
            if isSeparator {
                result.unicodeScalars.append(scalar)
                atWordStart = true
            } else if atWordStart {
                result += PythonText.upper(String(scalar))
                atWordStart = false
            } else {
                result += PythonText.lower(String(scalar))
            }
        }
        return result
    }

    private func indent(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["width", "first", "blank"], function: "do_indent")
        let unit: String
        switch bound[0] {
        case nil: unit = "    "
        case .some(let width):
            if let text = width.stringValue {
                unit = text
            } else if let count = width.intValue {
                if count > limits.maxOutputBytes { throw TemplateError(.limitExceeded, "indent width exceeds the output limit") }
                unit = String(repeating: " ", count: Swift.max(0, count))
            } else {
                throw TemplateError.type("can't multiply sequence by non-int of type '\(width.typeName)'")
            }
        }
        if case .undefined(let undefined) = input { throw undefined.error }
        guard let text = input.stringValue else {
            if case .list(let list) = input, !list.isTuple {
                throw TemplateError(.attribute, "'list' object has no attribute 'splitlines'")
            }
            throw TemplateError.type("unsupported operand type(s) for +=: '\(input.typeName)' and 'str'")
        }
        let lines = try PythonText.splitLines(text + "\n", maxParts: limits.maxCollectionItems)
        if unit.utf8.count > 0, lines.count > (limits.maxOutputBytes - text.utf8.count) / unit.utf8.count {
            throw TemplateError(.limitExceeded, "indent result would exceed \(limits.maxOutputBytes) bytes")
        }
        var result: String
        if bound[2]?.isTruthy ?? false {
            result = lines.joined(separator: "\n" + unit)
        } else {
            result = lines.first ?? ""
            for line in lines.dropFirst() {
                result += "\n" + (line.isEmpty ? line : unit + line)
            }
        }
        if bound[1]?.isTruthy ?? false { result = unit + result }
        try checkSize(result)
        if case .markup = input { return .markup(result) }
        return .string(result)
    }

    private func truncate(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["length", "killwords", "end", "leeway"], function: "do_truncate")
        let text = try softString(input)
        let length = bound[0]?.intValue ?? 255
        let end = try bound[2].map { try self.text($0) } ?? "..."
        let leeway = bound[3]?.intValue ?? 5
        let scalars = Array(text.unicodeScalars)
        if scalars.count <= length + leeway { return input.stringValue != nil ? input : .string(text) }
        let keep = PythonText.string(scalars.prefix(Swift.max(0, length - PythonText.length(end))))
        if bound[1]?.isTruthy ?? false { return .string(keep + end) }
        return .string(try PythonText.rsplit(keep, separator: " ", maxSplit: 1)[0] + end)
    }

    private func wordWrap(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["width", "break_long_words", "wrapstring", "break_on_hyphens"], function: "do_wordwrap")
        let width = Swift.max(1, bound[0]?.intValue ?? 79)
        let breakLong = bound[1]?.isTruthy ?? true
        let wrap = bound[2].flatMap { $0.stringValue } ?? "\n"
        var paragraphs: [String] = []
        var size = 0
        let maxParts = limits.maxCollectionItems
        for line in try PythonText.splitLines(try softString(input), maxParts: maxParts) {
            var wrapped: [String] = []
            var current = ""
            for word in try PythonText.split(line, separator: " ", maxParts: maxParts) where !word.isEmpty {
                var piece = word
                while breakLong, PythonText.length(piece) > width {
                    if !current.isEmpty {
                        wrapped.append(current)
                        current = ""
                    }
                    let scalars = Array(piece.unicodeScalars)
                    wrapped.append(PythonText.string(scalars.prefix(width)))
                    piece = PythonText.string(scalars.dropFirst(width))
                }
                if current.isEmpty {
                    current = piece
                } else if PythonText.length(current) + 1 + PythonText.length(piece) <= width {
                    current += " " + piece
                } else {
                    wrapped.append(current)
                    current = piece
                }
            }
            if !current.isEmpty { wrapped.append(current) }
            paragraphs.append(wrapped.joined(separator: wrap))
            size += paragraphs.last!.utf8.count + wrap.utf8.count
            if size > limits.maxOutputBytes {
                throw TemplateError(.limitExceeded, "wordwrap result would exceed \(limits.maxOutputBytes) bytes")
            }
        }
        let text = paragraphs.joined(separator: wrap)
        try checkSize(text)
        return .string(text)
    }

    private func stripTags(_ text: String) -> String {
        var withoutTags = ""
        var inTag = false
        for scalar in text.unicodeScalars {
            if scalar == "<" {
                inTag = true
                continue
            }
            if scalar == ">", inTag {
                inTag = false
                continue
            }
            if !inTag { withoutTags.unicodeScalars.append(scalar) }
        }
        var collapsed = ""
        var pendingSpace = false
        for scalar in withoutTags.unicodeScalars {
            if PythonText.isWhitespace(scalar) {
                pendingSpace = !collapsed.isEmpty
                continue
            }
            if pendingSpace { collapsed += " " }
            pendingSpace = false
            collapsed.unicodeScalars.append(scalar)
        }
        return
            collapsed
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
