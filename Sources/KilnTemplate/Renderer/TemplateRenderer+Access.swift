/// `object.name`, `object[key]`, `object[start:stop:step]` and iteration, as jinja2's sandboxed
/// `getattr`/`getitem` do them: `.name` tries the Python attribute (a method such as
/// `dict.items`) before the item, `[key]` the item before the attribute; a missing one is
/// undefined, and a method that would mutate a list or dict is refused.
extension TemplateRenderer {
    func attribute(_ name: String, of object: Value) throws -> Value {
        switch object {
        case .undefined(let undefined):
            throw undefined.error
        case .namespace(let namespace):
            return namespace.attribute(name) ?? .undefined(UndefinedValue(missing: .string(name), of: object))
        case .loop(let loop):
            return loop.attribute(name) ?? .undefined(UndefinedValue(missing: .string(name), of: object))
        case .dict(let dict):
            if let method = pythonAttribute(name, of: object) { return method }
            return dict.value(forString: name) ?? .undefined(UndefinedValue(missing: .string(name), of: object))
        default:
            return pythonAttribute(name, of: object) ?? .undefined(UndefinedValue(missing: .string(name), of: object))
        }
    }

    func item(_ key: Value, of object: Value) throws -> Value {
        switch object {
        case .undefined(let undefined):
            throw undefined.error
        case .dict(let dict):
            if let value = try? dict.value(for: key) { return value }
        case .list(let list):
            if let index = key.intValue {
                let position = index < 0 ? index + list.items.count : index
                if position >= 0, position < list.items.count { return list.items[position] }
            }
        case .string(let text), .markup(let text):
            if let index = key.intValue {
                let scalars = text.unicodeScalars
                let count = scalars.count
                let position = index < 0 ? index + count : index
                if position >= 0, position < count {
                    let character = String(scalars[scalars.index(scalars.startIndex, offsetBy: position)])
                    if case .markup = object { return .markup(character) }
                    return .string(character)
                }
            }
        case .namespace, .loop:
            if let name = key.stringValue { return try attribute(name, of: object) }
        default:
            break
        }
        if let name = key.stringValue, let method = pythonAttribute(name, of: object) { return method }
        return .undefined(UndefinedValue(missing: key, of: object))
    }

    /// A Python attribute of a builtin value: a bound method, a sandbox refusal, or nil.
    func pythonAttribute(_ name: String, of object: Value) -> Value? {
        let typeName = object.typeName
        if name.hasPrefix("_") {
            // Python objects do have dunder attributes; the sandbox refuses every `_` name.
            if name.hasPrefix("__"), name.hasSuffix("__"), name.count > 4 {
                return .undefined(
                    UndefinedValue(
                        hint: "access to attribute '\(name)' of '\(typeName)' object is unsafe.",
                        isSecurityViolation: true))
            }
            return nil
        }
        let kind: PythonMethods.Receiver
        switch object {
        case .string, .markup: kind = .string
        case .list(let list): kind = list.isTuple ? .tuple : .list
        case .dict: kind = .dict
        case .int, .bool: kind = .int
        case .double: kind = .float
        default: return nil
        }
        if PythonMethods.mutating(kind).contains(name) {
            return .undefined(
                UndefinedValue(
                    hint: "access to attribute '\(name)' of '\(typeName)' object is unsafe.",
                    isSecurityViolation: true))
        }
        if kind == .int || kind == .float {
            switch name {
            case "real": return object.intValue.map { .int($0) } ?? object
            case "imag": return kind == .int ? .int(0) : .double(0)
            case "numerator": return kind == .int ? .int(object.intValue ?? 0) : nil
            case "denominator": return kind == .int ? .int(1) : nil
            default: break
            }
        }
        guard PythonMethods.names(kind).contains(name) else { return nil }
        return .callable(CallableValue(.method(receiver: object, name: name)))
    }

    /// Python slicing of lists, tuples and strings.
    func slice(_ object: Value, start: Value, stop: Value, step: Value) throws -> Value {
        func bound(_ value: Value) throws -> Int? {
            if case .none = value { return nil }
            guard let number = value.intValue else {
                throw TemplateError.type("slice indices must be integers or None or have an __index__ method")
            }
            return number
        }
        let stepValue = try bound(step) ?? 1
        if stepValue == 0 { throw TemplateError(.value, "slice step cannot be zero") }
        let startValue = try bound(start), stopValue = try bound(stop)
        func indices(_ count: Int) -> [Int] {
            func clamp(_ value: Int?, _ defaultValue: Int, low: Int, high: Int) -> Int {
                guard var value else { return defaultValue }
                if value < 0 { value += count }
                return min(max(value, low), high)
            }
            var result: [Int] = []
            if stepValue > 0 {
                var index = clamp(startValue, 0, low: 0, high: count)
                let end = clamp(stopValue, count, low: 0, high: count)
                while index < end {
                    result.append(index)
                    index += stepValue
                }
            } else {
                var index = clamp(startValue, count - 1, low: -1, high: count - 1)
                let end = clamp(stopValue, -1, low: -1, high: count - 1)
                while index > end {
                    result.append(index)
                    index += stepValue
                }
            }
            return result
        }
        switch object {
        case .undefined(let undefined):
            throw undefined.error
        case .list(let list):
            let picked = indices(list.items.count).map { list.items[$0] }
            try checkCount(picked.count)
            return .list(ValueList(picked, isTuple: list.isTuple))
        case .string(let text), .markup(let text):
            let scalars = Array(text.unicodeScalars)
            let picked = PythonText.string(indices(scalars.count).map { scalars[$0] })
            try checkSize(picked)
            if case .markup = object { return .markup(picked) }
            return .string(picked)
        case .dict:
            throw TemplateError.type("unhashable type: 'slice'")
        default:
            // jinja2 slices with Python's own subscript, not its forgiving getitem.
            throw TemplateError.type("'\(object.typeName)' object is not subscriptable")
        }
    }

    /// The elements `for` would visit: list items, string code points, dict keys, or what is left
    /// of an iterator. Undefined iterates as empty.
    func iterate(_ value: Value) throws -> [Value] {
        switch value {
        case .list(let list):
            return list.items
        case .dict(let dict):
            return dict.keys
        case .string(let text), .markup(let text):
            try checkCount(text.utf8.count > limits.maxCollectionItems ? text.unicodeScalars.count : text.utf8.count)
            let isMarkup: Bool
            if case .markup = value { isMarkup = true } else { isMarkup = false }
            return text.unicodeScalars.map { isMarkup ? .markup(String($0)) : .string(String($0)) }
        case .undefined:
            return []
        case .iterator(let iterator):
            var items: [Value] = []
            while let item = try iterator.next() {
                try tick()
                items.append(item)
                if items.count > limits.maxCollectionItems { try checkCount(items.count) }
            }
            return items
        case .loop(let loop):
            return loop.items
        default:
            throw TemplateError.type("'\(value.typeName)' object is not iterable")
        }
    }
}
