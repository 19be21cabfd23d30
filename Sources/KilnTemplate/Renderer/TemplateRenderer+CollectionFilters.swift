/// Filters over sequences and mappings. Those that are generators in jinja2 (`map`, `select`,
/// `reject`, `selectattr`, `rejectattr`, `unique`, `items`, `batch`, `slice`, `reverse`) return
/// single-use lazy iterators here too, so that `tojson` and `length` fail on them as in jinja2.
extension TemplateRenderer {
    func runCollectionFilter(_ filter: BuiltinFilter, _ input: Value, _ arguments: CallArguments) throws -> Value {
        let name = "do_\(filter.rawValue)"
        switch filter {
        case .length:
            _ = try arguments.bind([], function: name)
            switch input {
            case .string(let text), .markup(let text): return .int(PythonText.length(text))
            case .list(let list): return .int(list.items.count)
            case .dict(let dict): return .int(dict.count)
            case .undefined: return .int(0)
            case .namespace(let namespace): return .int(namespace.names.count)
            default: throw TemplateError.type("object of type '\(input.typeName)' has no len()")
            }
        case .list:
            let items = try iterate(input)
            return try checkContainer(.list(items), count: items.count)
        case .join:
            let bound = try arguments.bind(["d", "attribute"], function: name)
            var items = try iterate(input)
            if let attribute = bound[1], !isNone(attribute) {
                let getter = try attributeGetter(attribute, default: nil)
                items = try items.map(getter)
            }
            let separator = try bound[0].map(self.text) ?? ""
            var text = ""
            for (position, item) in items.enumerated() {
                if position > 0 { text += separator }
                text += try self.text(item)
                if text.utf8.count > limits.maxOutputBytes { try checkSize(text) }
            }
            try checkSize(text)
            return .string(text)
        case .first:
            _ = try arguments.bind([], function: name)
            if case .iterator(let iterator) = input {
                return try iterator.next() ?? .undefined(hint: "No first item, sequence was empty.")
            }
            return try iterate(input).first ?? .undefined(hint: "No first item, sequence was empty.")
        case .last:
            _ = try arguments.bind([], function: name)
            if case .iterator(let iterator) = input {
                throw TemplateError.type("'\(iterator.typeName)' object is not reversible")
            }
            return try iterate(input).last ?? .undefined(hint: "No last item, sequence was empty.")
        case .items:
            _ = try arguments.bind([], function: name)
            switch input {
            case .undefined: return makeIterator(typeName: "generator", values: [])
            case .dict(let dict):
                try checkCount(dict.count)
                return makeIterator(typeName: "generator", values: dict.pairs.map { .tuple([$0.0, $0.1]) })
            default: throw TemplateError.type("Can only get item pairs from a mapping.")
            }
        case .dictsort:
            return try dictSort(input, arguments)
        case .sort:
            let bound = try arguments.bind(["reverse", "case_sensitive", "attribute"], function: name)
            let caseSensitive = bound[1]?.isTruthy ?? false
            let getters = try multiAttributeGetter(bound[2])
            let items = try iterate(input)
            let keys = try items.map { item in
                try getters.map { getter in
                    let key = try getter(item)
                    return caseSensitive ? key : ignoringCase(key)
                }
            }
            let order = try stableOrder(keys.count, descending: bound[0]?.isTruthy ?? false) {
                try PythonOperators.less(.list(keys[$0]), .list(keys[$1]))
            }
            return .list(order.map { items[$0] })
        case .unique:
            let bound = try arguments.bind(["case_sensitive", "attribute"], function: name)
            let caseSensitive = bound[0]?.isTruthy ?? false
            let getter = try attributeGetter(bound[1] ?? .none, default: nil)
            var seen = Set<DictKey>()
            let next = try puller(input)
            return try makeIterator(typeName: "generator", depth: input.nestingDepth + 1) {
                while let item = try next() {
                    try self.tick()
                    let key = try getter(item)
                    if seen.insert(try DictKey(caseSensitive ? key : self.ignoringCase(key))).inserted { return item }
                }
                return nil
            }
        case .min, .max:
            let bound = try arguments.bind(["case_sensitive", "attribute"], function: name)
            let caseSensitive = bound[0]?.isTruthy ?? false
            let getter = try attributeGetter(bound[1] ?? .none, default: nil)
            let items = try iterate(input)
            guard var best = items.first else { return .undefined(hint: "No aggregated item, sequence was empty.") }
            var bestKey = caseSensitive ? try getter(best) : ignoringCase(try getter(best))
            for item in items.dropFirst() {
                try tick()
                let key = caseSensitive ? try getter(item) : ignoringCase(try getter(item))
                let better = filter == .min ? try PythonOperators.less(key, bestKey) : try PythonOperators.less(bestKey, key)
                if better {
                    best = item
                    bestKey = key
                }
            }
            return best
        case .sum:
            let bound = try arguments.bind(["attribute", "start"], function: name)
            let getter = try attributeGetter(bound[0] ?? .none, default: nil)
            var total = bound[1] ?? .int(0)
            for item in try iterate(input) {
                try tick()
                total = try binary(.add, total, try getter(item))
            }
            return total
        case .reverse:
            switch input {
            case .string(let text): return .string(PythonText.string(text.unicodeScalars.reversed()))
            case .markup(let text): return .markup(PythonText.string(text.unicodeScalars.reversed()))
            case .list(let list):
                try checkCount(list.items.count)
                return makeIterator(typeName: list.isTuple ? "reversed" : "list_reverseiterator", values: list.items.reversed())
            case .dict(let dict): return makeIterator(typeName: "dict_reversekeyiterator", values: dict.keys.reversed())
            case .undefined: return makeIterator(typeName: "reversed", values: [])
            case .iterator: return .list(try iterate(input).reversed())
            default: throw TemplateError.filterArgument("argument must be iterable")
            }
        case .map:
            return try mapFilter(input, arguments)
        case .select, .reject, .selectattr, .rejectattr:
            return try selectFilter(
                input, arguments, rejecting: filter == .reject || filter == .rejectattr,
                byAttribute: filter == .selectattr || filter == .rejectattr)
        case .batch, .slice:
            return try batchFilter(input, arguments, slicing: filter == .slice)
        case .groupby:
            return try groupBy(input, arguments)
        case .random:
            let items = try iterate(input)
            return items.randomElement() ?? .undefined(hint: "No random item, sequence was empty.")
        default:
            throw TemplateError.runtime("filter '\(filter.rawValue)' is not implemented")
        }
    }

    func isNone(_ value: Value) -> Bool {
        if case .none = value { return true }
        return false
    }

    /// jinja2's `ignore_case`: strings compare lower-cased.
    func ignoringCase(_ value: Value) -> Value {
        if let text = value.stringValue { return .string(PythonText.lower(text)) }
        return value
    }

    /// A function pulling the elements of `value` one at a time (lazily for iterators).
    func puller(_ value: Value) throws -> () throws -> Value? {
        if case .iterator(let iterator) = value { return { try iterator.next() } }
        let items = try iterate(value)
        var position = 0
        return {
            guard position < items.count else { return nil }
            defer { position += 1 }
            return items[position]
        }
    }

    /// jinja2's `make_attrgetter`: a dotted path of items/attributes (`"function.name"`, `"0"`).
    func attributeGetter(_ attribute: Value, default defaultValue: Value?) throws -> (Value) throws -> Value {
        let parts: [Value]
        switch attribute {
        case .none: return { $0 }
        case .string(let path), .markup(let path):
            parts = try PythonText.split(path, separator: ".", maxParts: limits.maxCollectionItems).map { part in
                if !part.isEmpty, part.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let number = Int(part) {
                    return .int(number)
                }
                return .string(part)
            }
        default:
            parts = [attribute]
        }
        return { value in
            var current = value
            for part in parts {
                current = try self.item(part, of: current)
                if let defaultValue, current.isUndefined { current = defaultValue }
            }
            return current
        }
    }

    /// jinja2's `make_multi_attrgetter`: comma-separated paths, yielding a list of keys.
    private func multiAttributeGetter(_ attribute: Value?) throws -> [(Value) throws -> Value] {
        guard let attribute, !isNone(attribute) else { return [{ $0 }] }
        if let text = attribute.stringValue {
            return try PythonText.split(text, separator: ",", maxParts: limits.maxCollectionItems).map {
                try attributeGetter(.string($0), default: nil)
            }
        }
        return [try attributeGetter(attribute, default: nil)]
    }

    /// Indices `0..<count` in a stable order (Python's `sorted`, including `reverse=True`, which
    /// keeps equal elements in their original order). `less` may throw, as Python's `<` does.
    func stableOrder(_ count: Int, descending: Bool, less: (Int, Int) throws -> Bool) throws -> [Int] {
        try tick(count)
        var order = Array(0..<count)
        var buffer = order
        var width = 1
        while width < count {
            var start = 0
            while start < count {
                let middle = min(start + width, count), end = min(start + 2 * width, count)
                var left = start, right = middle, out = start
                while left < middle, right < end {
                    let takeRight = descending ? try less(order[left], order[right]) : try less(order[right], order[left])
                    if takeRight {
                        buffer[out] = order[right]
                        right += 1
                    } else {
                        buffer[out] = order[left]
                        left += 1
                    }
                    out += 1
                }
                while left < middle {
                    buffer[out] = order[left]
                    left += 1
                    out += 1
                }
                while right < end {
                    buffer[out] = order[right]
                    right += 1
                    out += 1
                }
                start += 2 * width
            }
            swap(&order, &buffer)
            width *= 2
            try tick(count)
        }
        return order
    }

    private func dictSort(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["case_sensitive", "by", "reverse"], function: "do_dictsort")
        if case .undefined(let undefined) = input { throw undefined.error }
        guard case .dict(let dict) = input else {
            throw TemplateError(.attribute, "'\(input.typeName)' object has no attribute 'items'")
        }
        let by = bound[1]?.stringValue ?? "key"
        guard by == "key" || by == "value" else {
            throw TemplateError.filterArgument("You can only sort by either \"key\" or \"value\"")
        }
        let caseSensitive = bound[0]?.isTruthy ?? false
        let pairs = Array(dict.pairs)
        let keys = pairs.map { pair -> Value in
            let key = by == "key" ? pair.0 : pair.1
            return caseSensitive ? key : ignoringCase(key)
        }
        let order = try stableOrder(keys.count, descending: bound[2]?.isTruthy ?? false) {
            try PythonOperators.less(keys[$0], keys[$1])
        }
        return .list(order.map { .tuple([pairs[$0].0, pairs[$0].1]) })
    }

    private func mapFilter(_ input: Value, _ arguments: CallArguments) throws -> Value {
        var transform: (Value) throws -> Value
        if arguments.positional.isEmpty, let attribute = arguments.keywords.first(where: { $0.name == "attribute" }) {
            let defaultValue = arguments.keywords.first(where: { $0.name == "default" })?.value
            if let unexpected = arguments.keywords.first(where: { $0.name != "attribute" && $0.name != "default" }) {
                throw TemplateError.filterArgument("Unexpected keyword argument '\(unexpected.name)'")
            }
            transform = try attributeGetter(attribute.value, default: defaultValue.flatMap { isNone($0) ? nil : $0 })
        } else {
            guard let filterName = arguments.positional.first?.stringValue else {
                throw TemplateError.filterArgument("map requires a filter argument")
            }
            var rest = arguments
            rest.positional.removeFirst()
            transform = { try self.runFilter(named: filterName, $0, rest) }
        }
        return try lazyFilter(input) { item in try transform(item) }
    }

    private func selectFilter(_ input: Value, _ arguments: CallArguments, rejecting: Bool, byAttribute: Bool) throws -> Value {
        var rest = arguments
        var getter: (Value) throws -> Value = { $0 }
        if byAttribute {
            guard !rest.positional.isEmpty else { throw TemplateError.filterArgument("Missing parameter for attribute name") }
            getter = try attributeGetter(rest.positional.removeFirst(), default: nil)
        }
        var predicate: (Value) throws -> Bool = { $0.isTruthy }
        if !rest.positional.isEmpty {
            let testName = rest.positional.removeFirst().pythonString
            let testArguments = rest
            predicate = { try self.runTest(named: testName, $0, testArguments) }
        }
        return try lazyFilter(input) { item in
            try predicate(try getter(item)) != rejecting ? item : nil
        }
    }

    /// A generator over `input` (empty when `input` is false, as jinja2's `if value:`), applying
    /// `transform`, which may drop an element by returning nil.
    private func lazyFilter(_ input: Value, _ transform: @escaping (Value) throws -> Value?) throws -> Value {
        var next: (() throws -> Value?)?
        let source = input
        return try makeIterator(typeName: "generator", depth: input.nestingDepth + 1) {
            if next == nil {
                next = source.isTruthy ? try self.puller(source) : { nil }
            }
            while let item = try next!() {
                try self.tick()
                if let result = try transform(item) { return result }
            }
            return nil
        }
    }

    private func batchFilter(_ input: Value, _ arguments: CallArguments, slicing: Bool) throws -> Value {
        let bound = try arguments.bind([slicing ? "slices" : "linecount", "fill_with"], function: slicing ? "do_slice" : "do_batch")
        guard let size = bound[0]?.intValue else { throw TemplateError.type("an integer count is required") }
        let fill = bound[1].flatMap { isNone($0) ? nil : $0 }
        let items = try iterate(input)
        var groups: [Value] = []
        if slicing {
            guard size > 0 else { throw TemplateError(.zeroDivision, "integer division or modulo by zero") }
            if size > limits.maxRange { throw TemplateError(.limitExceeded, "too many slices") }
            let perSlice = items.count / size, withExtra = items.count % size
            var offset = 0
            for number in 0..<size {
                let start = offset + number * perSlice
                if number < withExtra { offset += 1 }
                let end = offset + (number + 1) * perSlice
                var group = Array(items[start..<end])
                if let fill, number >= withExtra { group.append(fill) }
                groups.append(.list(group))
            }
        } else {
            guard size > 0 else { throw TemplateError(.value, "batch size must be positive") }
            var index = 0
            while index < items.count {
                var group = Array(items[index..<min(index + size, items.count)])
                if let fill, group.count < size {
                    if size > limits.maxRange { throw TemplateError(.limitExceeded, "batch size too large") }
                    group += Array(repeating: fill, count: size - group.count)
                }
                groups.append(.list(group))
                index += size
            }
        }
        try checkCount(items.count + groups.count)
        return makeIterator(typeName: "generator", values: groups)
    }

    private func groupBy(_ input: Value, _ arguments: CallArguments) throws -> Value {
        let bound = try arguments.bind(["attribute", "default", "case_sensitive"], function: "do_groupby")
        guard let attribute = bound[0] else { throw TemplateError.type("do_groupby() missing required argument 'attribute'") }
        let defaultValue = bound[1].flatMap { isNone($0) ? nil : $0 }
        let caseSensitive = bound[2]?.isTruthy ?? false
        let getter = try attributeGetter(attribute, default: defaultValue)
        let items = try iterate(input)
        let keys = try items.map { caseSensitive ? try getter($0) : ignoringCase(try getter($0)) }
        let order = try stableOrder(items.count, descending: false) { try PythonOperators.less(keys[$0], keys[$1]) }
        var groups: [Value] = []
        var currentKey: Value?
        var members: [Value] = []
        for index in order {
            if let key = currentKey, try PythonOperators.equal(key, keys[index]) {
                members.append(items[index])
                continue
            }
            if currentKey != nil, let first = members.first {
                groups.append(.tuple([try getter(first), .list(members)]))
            }
            currentKey = keys[index]
            members = [items[index]]
        }
        if currentKey != nil, let first = members.first { groups.append(.tuple([try getter(first), .list(members)])) }
        return .list(groups)
    }
}
