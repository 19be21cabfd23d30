/// The Python methods templates call on values: `text.split('</think>')`, `message.get('x')`,
/// `content.startswith(...)`. Mutating list and dict methods exist but are refused by the
/// sandbox (see `pythonAttribute`).
enum PythonMethods {
    enum Receiver { case string, list, tuple, dict, int, float }

    static func names(_ receiver: Receiver) -> Set<String> {
        switch receiver {
        case .string: return stringMethods
        case .list: return ["append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort"]
        case .tuple: return ["count", "index"]
        case .dict: return ["clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values"]
        case .int: return ["as_integer_ratio", "bit_count", "bit_length", "conjugate", "is_integer", "to_bytes", "from_bytes"]
        case .float: return ["as_integer_ratio", "conjugate", "fromhex", "hex", "is_integer"]
        }
    }

    /// Methods the immutable sandbox refuses (jinja2's `modifies_known_mutable`).
    static func mutating(_ receiver: Receiver) -> Set<String> {
        switch receiver {
        case .list: return ["append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"]
        case .dict: return ["clear", "pop", "popitem", "setdefault", "update"]
        default: return []
        }
    }

    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
        "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
        "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
        "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
        "title", "translate", "upper", "zfill",
    ]
}

extension TemplateRenderer {
    func callMethod(_ name: String, on receiver: Value, _ arguments: CallArguments) throws -> Value {
        try tick()
        try chargeWork(for: receiver)
        switch receiver {
        case .string(let text), .markup(let text):
            let result = try callStringMethod(name, text, arguments)
            if case .markup = receiver, case .string(let produced) = result,
                !["format", "join"].contains(name)
            {
                return .markup(produced)
            }
            return result
        case .dict(let dict):
            return try callDictMethod(name, dict, arguments)
        case .list(let list):
            let bound = try arguments.bind(["value", "start", "stop"], function: name)
            switch name {
            case "count":
                guard let value = bound[0] else { throw TemplateError.type("count() takes exactly one argument (0 given)") }
                return .int(try list.items.reduce(0) { $0 + (try PythonOperators.equal($1, value) ? 1 : 0) })
            case "index":
                guard let value = bound[0] else { throw TemplateError.type("index expected at least 1 argument, got 0") }
                for (position, item) in list.items.enumerated() where try PythonOperators.equal(item, value) {
                    return .int(position)
                }
                throw TemplateError(.value, "\(value.shortRepr) is not in list")
            case "copy":
                return receiver
            default:
                break
            }
        case .int, .bool, .double:
            switch name {
            case "is_integer":
                if let number = receiver.doubleValue, case .double = receiver { return .bool(number.rounded() == number) }
                return .bool(true)
            case "conjugate":
                return receiver.intValue.map { .int($0) } ?? receiver
            case "bit_length":
                if let number = receiver.intValue { return .int(Int.bitWidth - number.magnitude.leadingZeroBitCount) }
            default:
                break
            }
        default:
            break
        }
        throw TemplateError.runtime("the method \(receiver.typeName).\(name)() is not supported by this template engine")
    }

    private func callDictMethod(_ name: String, _ dict: DictStorage, _ arguments: CallArguments) throws -> Value {
        switch name {
        case "get":
            guard arguments.keywords.isEmpty else { throw TemplateError.type("dict.get() takes no keyword arguments") }
            guard (1...2).contains(arguments.positional.count) else {
                throw TemplateError.type("get expected at most 2 arguments, got \(arguments.positional.count)")
            }
            return try dict.value(for: arguments.positional[0]) ?? (arguments.positional.count > 1 ? arguments.positional[1] : .none)
        case "items":
            try checkCount(dict.count)
            return .list(dict.pairs.map { .tuple([$0.0, $0.1]) })
        case "keys":
            try checkCount(dict.count)
            return .list(dict.keys)
        case "values":
            try checkCount(dict.count)
            return .list(dict.values)
        case "copy":
            return .dict(dict)
        default:
            throw TemplateError.runtime("the method dict.\(name)() is not supported by this template engine")
        }
    }

    private func callStringMethod(_ name: String, _ text: String, _ arguments: CallArguments) throws -> Value {
        func stringArgument(_ value: Value?, _ position: String) throws -> String? {
            guard let value else { return nil }
            if case .none = value { return nil }
            guard let string = value.stringValue else {
                throw TemplateError.type("\(name)() argument \(position) must be str or None, not \(value.typeName)")
            }
            return string
        }
        func result(_ produced: String) throws -> Value {
            try checkSize(produced)
            return .string(produced)
        }
        switch name {
        case "strip", "lstrip", "rstrip":
            let bound = try arguments.bind(["chars"], function: name)
            return .string(
                PythonText.strip(
                    text, chars: try stringArgument(bound[0], "1"),
                    leading: name != "rstrip", trailing: name != "lstrip"))
        case "split", "rsplit":
            let bound = try arguments.bind(["sep", "maxsplit"], function: name)
            let separator = try stringArgument(bound[0], "1")
            if separator == "" { throw TemplateError(.value, "empty separator") }
            let limit = bound[1]?.intValue ?? -1
            let parts =
                name == "split"
                ? try PythonText.split(text, separator: separator, maxSplit: limit, maxParts: limits.maxCollectionItems)
                : try PythonText.rsplit(text, separator: separator, maxSplit: limit, maxParts: limits.maxCollectionItems)
            return try checkContainer(.list(parts.map { .string($0) }), count: parts.count)
        case "splitlines":
            let bound = try arguments.bind(["keepends"], function: name)
            let lines = try PythonText.splitLines(
                text, keepEnds: bound[0]?.isTruthy ?? false,
                maxParts: limits.maxCollectionItems)
            return try checkContainer(.list(lines.map { .string($0) }), count: lines.count)
        case "startswith", "endswith":
            let bound = try arguments.bind(["prefix", "start", "end"], function: name)
            guard let pattern = bound[0] else { throw TemplateError.type("\(name)() takes at least 1 argument (0 given)") }
            var subject = text
            if bound[1] != nil || bound[2] != nil {
                guard case .string(let sliced) = try slice(.string(text), start: bound[1] ?? .none, stop: bound[2] ?? .none, step: .none) else {
                    return .bool(false)
                }
                subject = sliced
            }
            let candidates: [Value]
            if case .list(let list) = pattern, list.isTuple { candidates = list.items } else { candidates = [pattern] }
            for candidate in candidates {
                guard let affix = candidate.stringValue else {
                    throw TemplateError.type("\(name) first arg must be str or a tuple of str, not \(candidate.typeName)")
                }
                if name == "startswith" ? PythonText.hasPrefix(subject, affix) : PythonText.hasSuffix(subject, affix) {
                    return .bool(true)
                }
            }
            return .bool(false)
        case "replace":
            let bound = try arguments.bind(["old", "new", "count"], function: name)
            guard let old = try stringArgument(bound[0], "1"), let new = try stringArgument(bound[1], "2") else {
                throw TemplateError.type("replace expected at least 2 arguments")
            }
            return try result(
                try PythonText.replace(
                    text, old, new, count: bound[2]?.intValue ?? -1,
                    maxBytes: limits.maxOutputBytes))
        case "upper": return .string(PythonText.upper(text))
        case "lower", "casefold": return .string(PythonText.lower(text))
        case "title": return .string(PythonText.title(text))
        case "capitalize": return .string(PythonText.capitalize(text))
        case "swapcase": return .string(PythonText.swapCase(text))
        case "find", "rfind", "index", "rindex", "count":
            let bound = try arguments.bind(["sub", "start", "end"], function: name)
            guard let needle = try stringArgument(bound[0], "1") else {
                throw TemplateError.type("must be str, not NoneType")
            }
            var subject = text
            var offset = 0
            if bound[1] != nil || bound[2] != nil {
                guard case .string(let sliced) = try slice(.string(text), start: bound[1] ?? .none, stop: bound[2] ?? .none, step: .none) else {
                    return .int(-1)
                }
                subject = sliced
                if let start = bound[1]?.intValue {
                    let count = PythonText.length(text)
                    offset = start < 0 ? max(0, start + count) : min(start, count)
                }
            }
            if name == "count" { return .int(PythonText.count(subject, needle)) }
            let found = name.hasPrefix("r") ? PythonText.rfind(subject, needle) : PythonText.find(subject, needle)
            if found < 0 {
                if name.hasSuffix("index") { throw TemplateError(.value, "substring not found") }
                return .int(-1)
            }
            return .int(found + offset)
        case "join":
            let bound = try arguments.bind(["iterable"], function: name)
            var parts: [String] = []
            var size = 0
            for item in try iterate(bound[0] ?? .undefined(hint: "join() takes exactly one argument")) {
                guard let part = item.stringValue else {
                    throw TemplateError.type("sequence item \(parts.count): expected str instance, \(item.typeName) found")
                }
                parts.append(part)
                size += part.utf8.count + text.utf8.count
                if size > limits.maxOutputBytes {
                    throw TemplateError(.limitExceeded, "join() result would exceed \(limits.maxOutputBytes) bytes")
                }
            }
            return try result(parts.joined(separator: text))
        case "partition", "rpartition":
            let bound = try arguments.bind(["sep"], function: name)
            guard let separator = try stringArgument(bound[0], "1"), !separator.isEmpty else {
                throw TemplateError(.value, "empty separator")
            }
            let parts =
                name == "partition"
                ? try PythonText.split(text, separator: separator, maxSplit: 1)
                : try PythonText.rsplit(text, separator: separator, maxSplit: 1)
            if parts.count == 2 { return .tuple([.string(parts[0]), .string(separator), .string(parts[1])]) }
            return name == "partition"
                ? .tuple([.string(text), .emptyString, .emptyString])
                : .tuple([.emptyString, .emptyString, .string(text)])
        case "removeprefix", "removesuffix":
            let bound = try arguments.bind(["affix"], function: name)
            guard let affix = try stringArgument(bound[0], "1") else { throw TemplateError.type("\(name)() argument must be str") }
            let scalars = Array(text.unicodeScalars)
            let length = PythonText.length(affix)
            if name == "removeprefix", PythonText.hasPrefix(text, affix) { return .string(PythonText.string(scalars.dropFirst(length))) }
            if name == "removesuffix", !affix.isEmpty, PythonText.hasSuffix(text, affix) {
                return .string(PythonText.string(scalars.dropLast(length)))
            }
            return .string(text)
        case "center", "ljust", "rjust", "zfill":
            let bound = try arguments.bind(["width", "fillchar"], function: name)
            guard let width = bound[0]?.intValue else { throw TemplateError.type("\(name)() argument 1 must be int") }
            if width > limits.maxOutputBytes { throw TemplateError(.limitExceeded, "\(name)() width exceeds the output limit") }
            if name == "zfill" { return .string(StringPadding.zeroFill(text, width: width)) }
            let fill = try stringArgument(bound[1], "2") ?? " "
            guard fill.unicodeScalars.count == 1 else {
                throw TemplateError.type("The fill character must be exactly one character long")
            }
            return .string(
                StringPadding.pad(text, width: width, fill: fill, alignment: name == "center" ? .center : name == "ljust" ? .left : .right))
        case "isdigit", "isdecimal", "isnumeric":
            return .bool(
                !text.isEmpty
                    && text.unicodeScalars.allSatisfy {
                        $0.properties.numericType != nil && (name != "isdecimal" || $0.properties.generalCategory == .decimalNumber)
                    })
        case "isalpha":
            return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace":
            return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(PythonText.isWhitespace))
        case "isascii":
            return .bool(text.unicodeScalars.allSatisfy { $0.isASCII })
        case "islower": return .bool(PythonText.isLower(text))
        case "isupper": return .bool(PythonText.isUpper(text))
        case "isprintable": return .bool(text.unicodeScalars.allSatisfy(PythonRepr.isPrintable))
        case "format":
            return try result(try PythonStringFormat.format(text, arguments, maxBytes: limits.maxOutputBytes))
        default:
            throw TemplateError.runtime("the method str.\(name)() is not supported by this template engine")
        }
    }
}
