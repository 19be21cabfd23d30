/// Expression evaluation.
extension TemplateRenderer {
    func evaluate(_ expression: TemplateExpression, _ scope: Scope) throws -> Value {
        try tick()
        switch expression {
        case .constant(let constant):
            switch constant {
            case .none: return .none
            case .bool(let flag): return .bool(flag)
            case .int(let number): return .int(number)
            case .double(let number): return .double(number)
            case .string(let text): return .string(text)
            }
        case .name(let name):
            return scope.lookup(name) ?? .undefined(name: name)
        case .list(let elements):
            let items = try elements.map { try evaluate($0, scope) }
            return try checkContainer(.list(items), count: items.count)
        case .tuple(let elements):
            let items = try elements.map { try evaluate($0, scope) }
            return try checkContainer(.tuple(items), count: items.count)
        case .dict(let pairs):
            let evaluated = try pairs.map { (try evaluate($0.key, scope), try evaluate($0.value, scope)) }
            return try checkContainer(.dict(try DictStorage(pairs: evaluated)), count: evaluated.count)
        case .attribute(let object, let name):
            return try attribute(name, of: try evaluate(object, scope))
        case .item(let object, let key):
            let container = try evaluate(object, scope)
            return try item(try evaluate(key, scope), of: container)
        case .slice(let object, let start, let stop, let step):
            let container = try evaluate(object, scope)
            return try slice(
                container,
                start: try start.map { try evaluate($0, scope) } ?? .none,
                stop: try stop.map { try evaluate($0, scope) } ?? .none,
                step: try step.map { try evaluate($0, scope) } ?? .none)
        case .call(let callee, let arguments):
            return try evaluateCall(callee, arguments, scope: scope, extraKeyword: nil)
        case .filter(let input, let name, let filter, let arguments):
            return try applyFilter(filter, name: name, to: try evaluate(input, scope), arguments: arguments, scope: scope)
        case .test(let input, let name, let test, let arguments, let negated):
            let result = try applyTest(test, name: name, to: try evaluate(input, scope), arguments: arguments, scope: scope)
            return .bool(result != negated)
        case .negate(let operand):
            return try PythonOperators.negate(try evaluate(operand, scope))
        case .plus(let operand):
            return try PythonOperators.plus(try evaluate(operand, scope))
        case .not(let operand):
            return .bool(!(try evaluate(operand, scope).isTruthy))
        case .and(let left, let right):
            let value = try evaluate(left, scope)
            return value.isTruthy ? try evaluate(right, scope) : value
        case .or(let left, let right):
            let value = try evaluate(left, scope)
            return value.isTruthy ? value : try evaluate(right, scope)
        case .binary(let op, let left, let right):
            return try binary(op, try evaluate(left, scope), try evaluate(right, scope))
        case .compare(let first, let operations):
            var left = try evaluate(first, scope)
            for (op, operand) in operations {
                let right = try evaluate(operand, scope)
                try chargeWork(for: right)
                if op == .equal || op == .notEqual { try chargeWork(for: left) }
                if !(try PythonOperators.compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let parts):
            var text = ""
            for part in parts {
                text += try self.text(try evaluate(part, scope))
                try checkSize(text)
            }
            return .string(text)
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition, scope).isTruthy { return try evaluate(then, scope) }
            if let otherwise { return try evaluate(otherwise, scope) }
            return .undefined(hint: "the inline if-expression evaluated to false and no else section was defined.")
        }
    }

    /// `str(value)` as output and concatenation produce it, bounded by the output limit.
    func text(_ value: Value) throws -> String {
        try value.pythonString(limit: limits.maxOutputBytes)
    }

    func binary(_ op: BinaryOperator, _ left: Value, _ right: Value) throws -> Value {
        let result: Value
        switch op {
        case .add: result = try PythonOperators.add(left, right)
        case .subtract: return try PythonOperators.subtract(left, right)
        case .multiply:
            result = try PythonOperators.multiply(
                left, right, maxBytes: limits.maxOutputBytes,
                maxItems: limits.maxCollectionItems)
        case .divide: return try PythonOperators.divide(left, right)
        case .floorDivide: return try PythonOperators.floorDivide(left, right)
        case .modulo: result = try PythonOperators.modulo(left, right, maxBytes: limits.maxOutputBytes)
        case .power: return try PythonOperators.power(left, right)
        }
        switch result {
        case .string(let text), .markup(let text): try checkSize(text)
        case .list(let list): return try checkContainer(result, count: list.items.count)
        default: break
        }
        return result
    }
}

extension Value {
    /// Converts context data, refusing nesting deeper than `maxDepth`.
    init(_ value: TemplateValue, maxDepth: Int, depth: Int = 0) throws {
        if depth > maxDepth {
            throw TemplateError(.limitExceeded, "context value nests deeper than \(maxDepth) levels")
        }
        switch value {
        case .null: self = .none
        case .bool(let flag): self = .bool(flag)
        case .int(let number): self = .int(number)
        case .double(let number): self = .double(number)
        case .string(let text): self = .string(text)
        case .array(let items):
            self = .list(try items.map { try Value($0, maxDepth: maxDepth, depth: depth + 1) })
        case .object(let pairs):
            // A repeated key (possible when `.object` is built by hand) keeps its last value.
            self = .dict(
                try DictStorage(
                    pairs: try pairs.map {
                        (.string($0.key), try Value($0.value, maxDepth: maxDepth, depth: depth + 1))
                    }))
        }
    }
}
