import Foundation

/// Python's operators on template values: equality, ordering, membership and arithmetic, with
/// Python's results (`7 // -2 == -4`, `3 / 2 == 1.5`, `'a' * 3`) and Python's `TypeError`
/// messages. Integers are 64-bit: where Python would grow a big integer we raise `OverflowError`.
enum PythonOperators {
    // MARK: Equality and ordering

    static func equal(_ a: Value, _ b: Value) throws -> Bool {
        switch (a, b) {
        case (.undefined, .undefined): return true
        case (.undefined, _), (_, .undefined): return false
        case (.none, .none): return true
        case let (.string(x), .string(y)), let (.markup(x), .markup(y)),
            let (.string(x), .markup(y)), let (.markup(x), .string(y)):
            return PythonText.equal(x, y)
        case let (.list(x), .list(y)):
            guard x.isTuple == y.isTuple, x.items.count == y.items.count else { return false }
            for (left, right) in zip(x.items, y.items) where !(try equal(left, right)) { return false }
            return true
        case let (.dict(x), .dict(y)):
            guard x.count == y.count else { return false }
            for (key, value) in x.pairs {
                guard let other = try y.value(for: key), try equal(value, other) else { return false }
            }
            return true
        case let (.namespace(x), .namespace(y)): return x === y
        case let (.callable(x), .callable(y)): return x === y
        case let (.iterator(x), .iterator(y)): return x === y
        case let (.loop(x), .loop(y)): return x === y
        default:
            if let x = a.intValue, let y = b.intValue { return x == y }
            if let x = a.doubleValue, let y = b.doubleValue { return x == y }
            return false
        }
    }

    /// Python's `a < b`; lists and tuples compare element by element. `symbol` and `swapped`
    /// only shape the error message (`a > b` is evaluated as `b < a`).
    static func less(_ a: Value, _ b: Value, symbol: String = "<", swapped: Bool = false) throws -> Bool {
        if case .undefined(let undefined) = a { throw undefined.error }
        if case .undefined(let undefined) = b { throw undefined.error }
        if let x = a.intValue, let y = b.intValue { return x < y }
        if let x = a.doubleValue, let y = b.doubleValue { return x < y }
        if let x = a.stringValue, let y = b.stringValue { return PythonText.less(x, y) }
        if case .list(let x) = a, case .list(let y) = b, x.isTuple == y.isTuple {
            for (left, right) in zip(x.items, y.items) where !(try equal(left, right)) {
                return try less(left, right, symbol: symbol)
            }
            return x.items.count < y.items.count
        }
        let (left, right) = swapped ? (b, a) : (a, b)
        throw TemplateError.type(
            "'\(symbol)' not supported between instances of '\(left.typeName)' and '\(right.typeName)'")
    }

    static func compare(_ op: ComparisonOperator, _ a: Value, _ b: Value) throws -> Bool {
        switch op {
        case .equal: return try equal(a, b)
        case .notEqual: return !(try equal(a, b))
        case .less: return try less(a, b, symbol: "<")
        case .greater: return try less(b, a, symbol: ">", swapped: true)
        case .lessOrEqual:
            if case .list = a { return try less(a, b, symbol: "<=") || equal(a, b) }
            return try !less(b, a, symbol: "<=", swapped: true) && !isNaNComparison(a, b)
        case .greaterOrEqual:
            if case .list = a { return try less(b, a, symbol: ">=", swapped: true) || equal(a, b) }
            return try !less(a, b, symbol: ">=") && !isNaNComparison(a, b)
        case .contains: return try contains(b, a)
        case .notContains: return !(try contains(b, a))
        }
    }

    private static func isNaNComparison(_ a: Value, _ b: Value) -> Bool {
        (a.doubleValue?.isNaN ?? false) || (b.doubleValue?.isNaN ?? false)
    }

    /// Python's `item in container`.
    static func contains(_ container: Value, _ item: Value) throws -> Bool {
        switch container {
        case .string(let text), .markup(let text):
            guard let needle = item.stringValue else {
                if case .undefined(let undefined) = item { throw undefined.error }
                throw TemplateError.type("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return PythonText.contains(text, needle)
        case .list(let list):
            for element in list.items where try equal(element, item) { return true }
            return false
        case .dict(let dict):
            return try dict.value(for: item) != nil
        case .undefined:
            return false
        case .iterator(let iterator):
            while let element = try iterator.next() {
                if try equal(element, item) { return true }
            }
            return false
        default:
            throw TemplateError.type("argument of type '\(container.typeName)' is not iterable")
        }
    }

    // MARK: Arithmetic

    static func unsupported(_ symbol: String, _ a: Value, _ b: Value) -> TemplateError {
        TemplateError.type("unsupported operand type(s) for \(symbol): '\(a.typeName)' and '\(b.typeName)'")
    }

    static func overflow() -> TemplateError {
        TemplateError(.overflow, "integer result does not fit in 64 bits")
    }

    /// `a + b`.
    static func add(_ a: Value, _ b: Value) throws -> Value {
        try rejectUndefined(a, b)
        if let x = a.intValue, let y = b.intValue {
            let (sum, didOverflow) = x.addingReportingOverflow(y)
            if didOverflow { throw overflow() }
            return .int(sum)
        }
        if let x = a.doubleValue, let y = b.doubleValue { return .double(x + y) }
        switch (a, b) {
        case let (.string(x), .string(y)): return .string(x + y)
        case let (.markup(x), .markup(y)): return .markup(x + y)
        case let (.markup(x), .string(y)): return .markup(x + HTMLEscaping.escape(y))
        case let (.string(x), .markup(y)): return .markup(HTMLEscaping.escape(x) + y)
        case let (.list(x), .list(y)) where x.isTuple == y.isTuple:
            return .list(ValueList(x.items + y.items, isTuple: x.isTuple))
        case (.string, _), (.markup, _):
            throw TemplateError.type("can only concatenate str (not \"\(b.typeName)\") to str")
        case (.list(let x), _):
            let kind = x.isTuple ? "tuple" : "list"
            throw TemplateError.type("can only concatenate \(kind) (not \"\(b.typeName)\") to \(kind)")
        default:
            throw unsupported("+", a, b)
        }
    }

    static func subtract(_ a: Value, _ b: Value) throws -> Value {
        try rejectUndefined(a, b)
        if let x = a.intValue, let y = b.intValue {
            let (difference, didOverflow) = x.subtractingReportingOverflow(y)
            if didOverflow { throw overflow() }
            return .int(difference)
        }
        if let x = a.doubleValue, let y = b.doubleValue { return .double(x - y) }
        throw unsupported("-", a, b)
    }

    /// `a * b`; a repeated string larger than `maxBytes` or list longer than `maxItems` is
    /// refused before it is built.
    static func multiply(_ a: Value, _ b: Value, maxBytes: Int, maxItems: Int) throws -> Value {
        try rejectUndefined(a, b)
        if let x = a.intValue, let y = b.intValue {
            let (product, didOverflow) = x.multipliedReportingOverflow(by: y)
            if didOverflow { throw overflow() }
            return .int(product)
        }
        if let x = a.doubleValue, let y = b.doubleValue { return .double(x * y) }
        func repeated(_ sequence: Value, _ count: Value) throws -> Value? {
            guard let times = count.intValue else {
                switch sequence {
                case .string, .markup, .list:
                    throw TemplateError.type("can't multiply sequence by non-int of type '\(count.typeName)'")
                default: return nil
                }
            }
            let n = max(0, times)
            let unit: Int, maxSize: Int
            switch sequence {
            case .string(let text), .markup(let text): (unit, maxSize) = (text.utf8.count, maxBytes)
            case .list(let list): (unit, maxSize) = (list.items.count, maxItems)
            default: (unit, maxSize) = (0, 0)
            }
            if n > 0, unit > 0, unit > maxSize / n {
                throw TemplateError(.limitExceeded, "a repeated sequence would exceed \(maxSize) bytes or items")
            }
            switch sequence {
            case .string(let text): return .string(String(repeating: text, count: n))
            case .markup(let text): return .markup(String(repeating: text, count: n))
            case .list(let list):
                var items: [Value] = []
                items.reserveCapacity(list.items.count * n)
                for _ in 0..<n { items.append(contentsOf: list.items) }
                return .list(ValueList(items, isTuple: list.isTuple))
            default: return nil
            }
        }
        if let result = try repeated(a, b) { return result }
        if a.intValue != nil, let result = try repeated(b, a) { return result }
        throw unsupported("*", a, b)
    }

    static func divide(_ a: Value, _ b: Value) throws -> Value {
        try rejectUndefined(a, b)
        guard let x = a.doubleValue, let y = b.doubleValue else { throw unsupported("/", a, b) }
        if y == 0 {
            throw TemplateError(.zeroDivision, a.intValue != nil && b.intValue != nil ? "division by zero" : "float division by zero")
        }
        return .double(x / y)
    }

    static func floorDivide(_ a: Value, _ b: Value) throws -> Value {
        try rejectUndefined(a, b)
        if let x = a.intValue, let y = b.intValue {
            if y == 0 { throw TemplateError(.zeroDivision, "integer division or modulo by zero") }
            if x == .min, y == -1 { throw overflow() }
            let quotient = x / y
            return .int((x % y != 0 && (x < 0) != (y < 0)) ? quotient - 1 : quotient)
        }
        guard let x = a.doubleValue, let y = b.doubleValue else { throw unsupported("//", a, b) }
        if y == 0 { throw TemplateError(.zeroDivision, "float floor division by zero") }
        return .double((x / y).rounded(.down))
    }

    /// `a % b`: Python's modulo, or printf-style formatting when `a` is a string (whose result
    /// may not exceed `maxBytes`).
    static func modulo(_ a: Value, _ b: Value, maxBytes: Int = .max) throws -> Value {
        if let format = a.stringValue {
            if case .markup = a {
                return .markup(try PrintfFormatter.format(format, b, escapingText: true, maxBytes: maxBytes))
            }
            return .string(try PrintfFormatter.format(format, b, maxBytes: maxBytes))
        }
        try rejectUndefined(a, b)
        if let x = a.intValue, let y = b.intValue {
            if y == 0 { throw TemplateError(.zeroDivision, "integer modulo by zero") }
            if y == -1 { return .int(0) }
            let remainder = x % y
            return .int(remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder)
        }
        guard let x = a.doubleValue, let y = b.doubleValue else { throw unsupported("%", a, b) }
        if y == 0 { throw TemplateError(.zeroDivision, "float modulo") }
        var remainder = fmod(x, y)
        if remainder != 0, (remainder < 0) != (y < 0) { remainder += y }
        return .double(remainder)
    }

    static func power(_ a: Value, _ b: Value) throws -> Value {
        try rejectUndefined(a, b)
        if let base = a.intValue, let exponent = b.intValue {
            if exponent < 0 {
                if base == 0 { throw TemplateError(.zeroDivision, "0.0 cannot be raised to a negative power") }
                return .double(pow(Double(base), Double(exponent)))
            }
            var result = 1, factor = base, remaining = exponent
            while remaining > 0 {
                if remaining & 1 == 1 {
                    let (product, didOverflow) = result.multipliedReportingOverflow(by: factor)
                    if didOverflow { throw overflow() }
                    result = product
                }
                remaining >>= 1
                if remaining > 0 {
                    let (square, didOverflow) = factor.multipliedReportingOverflow(by: factor)
                    if didOverflow { throw overflow() }
                    factor = square
                }
            }
            return .int(result)
        }
        guard let x = a.doubleValue, let y = b.doubleValue else { throw unsupported("** or pow()", a, b) }
        if x == 0, y < 0 { throw TemplateError(.zeroDivision, "0.0 cannot be raised to a negative power") }
        return .double(pow(x, y))
    }

    static func negate(_ a: Value) throws -> Value {
        if case .undefined(let undefined) = a { throw undefined.error }
        if let x = a.intValue {
            if x == .min { throw overflow() }
            return .int(-x)
        }
        if case .double(let x) = a { return .double(-x) }
        throw TemplateError.type("bad operand type for unary -: '\(a.typeName)'")
    }

    static func plus(_ a: Value) throws -> Value {
        if case .undefined(let undefined) = a { throw undefined.error }
        if let x = a.intValue { return .int(x) }
        if case .double = a { return a }
        throw TemplateError.type("bad operand type for unary +: '\(a.typeName)'")
    }

    private static func rejectUndefined(_ a: Value, _ b: Value) throws {
        if case .undefined(let undefined) = a { throw undefined.error }
        if case .undefined(let undefined) = b { throw undefined.error }
    }
}
