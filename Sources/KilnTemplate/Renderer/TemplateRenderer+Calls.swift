import Foundation

/// Evaluated arguments of a call, filter or test.
struct CallArguments {
    var positional: [Value] = []
    var keywords: [(name: String, value: Value)] = []

    /// Binds arguments to `parameters` as Python binds them to a function's signature; missing
    /// ones are nil. `function` names the callee in error messages.
    func bind(_ parameters: [String], function: String) throws -> [Value?] {
        if positional.count > parameters.count {
            throw TemplateError.type("\(function)() takes at most \(parameters.count) argument(s) (\(positional.count) given)")
        }
        var bound: [Value?] = positional.map { $0 }
        bound += Array(repeating: nil, count: parameters.count - positional.count)
        for (name, value) in keywords {
            guard let index = parameters.firstIndex(of: name) else {
                throw TemplateError.type("\(function)() got an unexpected keyword argument '\(name)'")
            }
            if bound[index] != nil {
                throw TemplateError.type("\(function)() got multiple values for argument '\(name)'")
            }
            bound[index] = value
        }
        return bound
    }
}

/// The global functions of Hugging Face's chat-template environment.
enum BuiltinFunction: String, CaseIterable {
    case range
    case dict
    case namespace
    case raiseException = "raise_exception"
    case strftimeNow = "strftime_now"

    var isPythonBuiltin: Bool { self == .range || self == .dict }
}

/// Calls: macros, `caller()`, builtin functions, methods and recursive loops.
extension TemplateRenderer {
    func evaluateArguments(_ arguments: TemplateArguments, _ scope: Scope) throws -> CallArguments {
        var result = CallArguments()
        result.positional = try arguments.positional.map { try evaluate($0, scope) }
        result.keywords = try arguments.keywords.map { ($0.name, try evaluate($0.value, scope)) }
        if let spread = arguments.spreadPositional {
            result.positional += try iterate(try evaluate(spread, scope))
        }
        if let spread = arguments.spreadKeywords {
            guard case .dict(let dict) = try evaluate(spread, scope) else {
                throw TemplateError.type("argument after ** must be a mapping")
            }
            for (key, value) in dict.pairs {
                guard let name = key.stringValue else { throw TemplateError.type("keywords must be strings") }
                result.keywords.append((name, value))
            }
        }
        return result
    }

    func evaluateCall(
        _ callee: TemplateExpression, _ arguments: TemplateArguments, scope: Scope,
        extraKeyword: (String, Value)?
    ) throws -> Value {
        let function = try evaluate(callee, scope)
        var evaluated = try evaluateArguments(arguments, scope)
        if let extraKeyword { evaluated.keywords.append((extraKeyword.0, extraKeyword.1)) }
        return try call(function, evaluated)
    }

    func call(_ callee: Value, _ arguments: CallArguments) throws -> Value {
        switch callee {
        case .undefined(let undefined):
            throw undefined.error
        case .callable(let callable):
            switch callable.kind {
            case .macro(let definition, let scope), .caller(let definition, let scope):
                return try invokeMacro(definition, definingScope: scope, arguments)
            case .function(let function):
                return try callBuiltin(function, arguments)
            case .method(let receiver, let name):
                return try callMethod(name, on: receiver, arguments)
            case .loopRecursion(let loop):
                return try recurse(loop, arguments)
            case .loopMethod(let loop, let name):
                if name == "cycle" { return try loop.cycle(arguments.positional) }
                return .bool(try loop.changed(arguments.positional))
            }
        case .loop(let loop):
            return try recurse(loop, arguments)
        default:
            throw TemplateError.type("'\(callee.typeName)' object is not callable")
        }
    }

    private func enterCall() throws {
        callDepth += 1
        if callDepth > limits.maxCallDepth {
            callDepth -= 1
            throw TemplateError(.limitExceeded, "macro calls nested deeper than \(limits.maxCallDepth) levels")
        }
    }

    /// Runs a macro body in a fresh scope whose parent is the scope the macro was defined in.
    func invokeMacro(_ definition: MacroDefinition, definingScope: Scope, _ arguments: CallArguments) throws -> Value {
        try enterCall()
        defer { callDepth -= 1 }
        let scope = makeScope(parent: definingScope)
        var keywords = arguments.keywords
        func takeKeyword(_ name: String) -> Value? {
            guard let index = keywords.firstIndex(where: { $0.name == name }) else { return nil }
            return keywords.remove(at: index).value
        }
        for (index, parameter) in definition.parameters.enumerated() {
            if index < arguments.positional.count {
                scope.set(parameter.name, arguments.positional[index])
            } else if let value = takeKeyword(parameter.name) {
                scope.set(parameter.name, value)
            } else if let defaultValue = parameter.defaultValue {
                scope.set(parameter.name, try evaluate(defaultValue, scope))
            } else {
                scope.set(parameter.name, .undefined(hint: "parameter '\(parameter.name)' was not provided"))
            }
        }
        if definition.usesCaller {
            scope.set("caller", takeKeyword("caller") ?? .undefined(hint: "No caller defined"))
        }
        if definition.usesKwargs {
            scope.set("kwargs", .dict(try DictStorage(pairs: keywords.map { (.string($0.name), $0.value) })))
        } else if let extra = keywords.first {
            if extra.name == "caller" {
                throw TemplateError.type(
                    "macro '\(definition.name)' was invoked with two values for the special caller argument. This is most likely a bug.")
            }
            throw TemplateError.type("macro '\(definition.name)' takes no keyword argument '\(extra.name)'")
        }
        let extraPositional = Array(arguments.positional.dropFirst(definition.parameters.count))
        if definition.usesVarargs {
            scope.set("varargs", .tuple(extraPositional))
        } else if !extraPositional.isEmpty {
            throw TemplateError.type("macro '\(definition.name)' takes not more than \(definition.parameters.count) argument(s)")
        }
        var output = ""
        _ = try execute(definition.body, scope: scope, into: &output)
        return .string(output)
    }

    /// `loop(children)` in a `recursive` loop: renders the loop body again one level deeper.
    private func recurse(_ loop: LoopContext, _ arguments: CallArguments) throws -> Value {
        guard let recursion = loop.recursion else {
            throw TemplateError.type("The loop must have the 'recursive' marker to be called recursively.")
        }
        guard arguments.positional.count == 1 else {
            throw TemplateError.type("loop() takes exactly one argument")
        }
        try enterCall()
        defer { callDepth -= 1 }
        var output = ""
        try runLoop(
            recursion.loop, iterable: arguments.positional[0], scope: recursion.scope,
            depth0: loop.depth0 + 1, into: &output)
        return .string(output)
    }

    private func callBuiltin(_ function: BuiltinFunction, _ arguments: CallArguments) throws -> Value {
        switch function {
        case .range:
            guard arguments.keywords.isEmpty else { throw TemplateError.type("range() takes no keyword arguments") }
            let numbers = try arguments.positional.map { value -> Int in
                guard let number = value.intValue else {
                    throw TemplateError.type("'\(value.typeName)' object cannot be interpreted as an integer")
                }
                return number
            }
            let (start, stop, step): (Int, Int, Int)
            switch numbers.count {
            case 1: (start, stop, step) = (0, numbers[0], 1)
            case 2: (start, stop, step) = (numbers[0], numbers[1], 1)
            case 3: (start, stop, step) = (numbers[0], numbers[1], numbers[2])
            default: throw TemplateError.type("range expected at most 3 arguments, got \(numbers.count)")
            }
            if step == 0 { throw TemplateError(.value, "range() arg 3 must not be zero") }
            let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
            let count = span <= 0 ? 0 : Int((span / Double(abs(step))).rounded(.up))
            if count > limits.maxRange {
                throw TemplateError(.overflow, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(limits.maxRange)).")
            }
            try checkCount(count)
            return .list((0..<count).map { .int(start + $0 * step) })
        case .dict:
            var pairs: [(Value, Value)] = []
            if let first = arguments.positional.first {
                pairs = try mappingPairs(first)
            }
            pairs += arguments.keywords.map { (.string($0.name), $0.value) }
            return .dict(try DictStorage(pairs: pairs))
        case .namespace:
            let namespace = try makeNamespace()
            if let first = arguments.positional.first {
                for (key, value) in try mappingPairs(first) {
                    guard let name = key.stringValue else { throw TemplateError.type("keywords must be strings") }
                    namespace.setAttribute(name, value)
                }
            }
            for (name, value) in arguments.keywords { namespace.setAttribute(name, value) }
            return .namespace(namespace)
        case .raiseException:
            throw TemplateError(.raised, try arguments.positional.first.map(text) ?? "")
        case .strftimeNow:
            guard let format = arguments.positional.first?.stringValue else {
                throw TemplateError.type("strftime() argument 1 must be str")
            }
            let text = try Strftime.format(
                format, date: environment.now(), timeZone: environment.timeZone,
                maxBytes: limits.maxOutputBytes)
            try checkSize(text)
            return .string(text)
        }
    }

    /// The pairs of `dict(x)`: a dict's items or an iterable of two-element sequences.
    func mappingPairs(_ value: Value) throws -> [(Value, Value)] {
        try chargeWork(for: value)
        if case .dict(let dict) = value { return Array(dict.pairs) }
        return try iterate(value).map { element in
            let pair = try iterate(element)
            guard pair.count == 2 else {
                throw TemplateError(.value, "dictionary update sequence element has length \(pair.count); 2 is required")
            }
            return (pair[0], pair[1])
        }
    }
}
