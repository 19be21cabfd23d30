/// The tests of jinja2 3.1 (`value is name`), with their aliases.
enum BuiltinTest: String, CaseIterable, Sendable {
    case boolean, callable, defined, divisibleby, equalto, escaped, even, `false`, filter, float
    case ge, gt, `in`, integer, iterable, le, lower, lt, mapping, ne, none, number, odd, sameas
    case sequence, string, test, `true`, undefined, upper

    init?(name: String) {
        switch name {
        case "eq", "==": self = .equalto
        case "!=": self = .ne
        case ">", "greaterthan": self = .gt
        case ">=": self = .ge
        case "<", "lessthan": self = .lt
        case "<=": self = .le
        default: self.init(rawValue: name)
        }
    }
}

extension TemplateRenderer {
    func applyTest(
        _ test: BuiltinTest?, name: String, to input: Value, arguments: TemplateArguments,
        scope: Scope
    ) throws -> Bool {
        let evaluated = try evaluateArguments(arguments, scope)
        guard let test else { throw TemplateError.runtime("No test named '\(name)' found.") }
        return try runTest(test, input, evaluated)
    }

    /// Applies a test named at render time (`select('equalto', 3)`).
    func runTest(named name: String, _ input: Value, _ arguments: CallArguments) throws -> Bool {
        guard let test = BuiltinTest(name: name) else { throw TemplateError.runtime("No test named '\(name)'.") }
        return try runTest(test, input, arguments)
    }

    func runTest(_ test: BuiltinTest, _ input: Value, _ arguments: CallArguments) throws -> Bool {
        func operand() throws -> Value {
            let bound = try arguments.bind(["other"], function: "test_\(test.rawValue)")
            guard let other = bound[0] else {
                throw TemplateError.type("test_\(test.rawValue)() missing 1 required positional argument")
            }
            return other
        }
        switch test {
        case .defined: return !input.isUndefined
        case .undefined: return input.isUndefined
        case .none: return isNone(input)
        case .boolean:
            if case .bool = input { return true }
            return false
        case .true:
            if case .bool(true) = input { return true }
            return false
        case .false:
            if case .bool(false) = input { return true }
            return false
        case .integer:
            if case .int = input { return true }
            return false
        case .float:
            if case .double = input { return true }
            return false
        case .number:
            switch input {
            case .int, .double, .bool: return true
            default: return false
            }
        case .string:
            return input.stringValue != nil
        case .mapping:
            if case .dict = input { return true }
            return false
        case .iterable:
            switch input {
            case .string, .markup, .list, .dict, .iterator, .undefined, .loop: return true
            default: return false
            }
        case .sequence:
            switch input {
            case .string, .markup, .list, .dict, .undefined: return true
            default: return false
            }
        case .callable:
            switch input {
            // Undefined defines __call__ (to raise), so Python deems it callable.
            case .callable, .loop, .undefined: return true
            default: return false
            }
        case .escaped:
            if case .markup = input { return true }
            return false
        case .lower:
            return PythonText.isLower(input.pythonString)
        case .upper:
            return PythonText.isUpper(input.pythonString)
        case .even, .odd:
            if case .undefined(let undefined) = input { throw undefined.error }
            guard let number = input.intValue else {
                if case .double(let value) = input {
                    let remainder = value.truncatingRemainder(dividingBy: 2)
                    return test == .even ? remainder == 0 : abs(remainder) == 1
                }
                throw TemplateError.type("not all arguments converted during string formatting")
            }
            return (number & 1 == 0) == (test == .even)
        case .divisibleby:
            let divisor = try operand()
            guard case .int(let remainder) = try PythonOperators.modulo(input, divisor) else {
                if case .double(let remainder) = try PythonOperators.modulo(input, divisor) { return remainder == 0 }
                return false
            }
            return remainder == 0
        case .equalto: return try PythonOperators.equal(input, try operand())
        case .ne: return !(try PythonOperators.equal(input, try operand()))
        case .lt: return try PythonOperators.compare(.less, input, try operand())
        case .le: return try PythonOperators.compare(.lessOrEqual, input, try operand())
        case .gt: return try PythonOperators.compare(.greater, input, try operand())
        case .ge: return try PythonOperators.compare(.greaterOrEqual, input, try operand())
        case .in: return try PythonOperators.contains(try operand(), input)
        case .sameas:
            let other = try operand()
            switch (input, other) {
            case (.none, .none): return true
            case let (.bool(a), .bool(b)): return a == b
            case let (.int(a), .int(b)): return a == b && (-5...256).contains(a)
            case let (.namespace(a), .namespace(b)): return a === b
            case let (.callable(a), .callable(b)): return a === b
            default: return false
            }
        case .filter:
            return input.stringValue.flatMap(BuiltinFilter.init(name:)) != nil
        case .test:
            return input.stringValue.flatMap(BuiltinTest.init(name:)) != nil
        }
    }
}
