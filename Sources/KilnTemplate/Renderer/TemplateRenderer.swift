/// Executes a parsed template once. A renderer is single-use and single-threaded: it holds the
/// step budget, the call depth and every scope and object the rendering creates, and tears them
/// down at the end so that reference cycles built by a template are released.
///
/// Statements are here; expressions, attribute access, calls, methods, filters and tests live in
/// the `TemplateRenderer+*.swift` extensions.
final class TemplateRenderer {
    let limits: TemplateLimits
    let environment: TemplateEnvironment
    private(set) var steps = 0
    var callDepth = 0
    private var scopes: [Scope] = []
    private var namespaces: [NamespaceObject] = []

    /// What a statement list asks of the loop around it.
    enum Flow {
        case normal, breakLoop, continueLoop
    }

    init(limits: TemplateLimits, environment: TemplateEnvironment) {
        self.limits = limits
        self.environment = environment
    }

    func render(_ body: [TemplateStatement], context: [String: TemplateValue]) throws -> String {
        defer { tearDown() }
        let globals = makeScope(parent: nil)
        for function in BuiltinFunction.allCases {
            globals.set(function.rawValue, .callable(CallableValue(.function(function))))
        }
        let root = makeScope(parent: globals)
        for (name, value) in context {
            root.set(name, try Value(value, maxDepth: limits.maxNestingDepth))
        }
        var output = ""
        _ = try execute(body, scope: root, into: &output)
        return output
    }

    private func tearDown() {
        for scope in scopes { scope.tearDown() }
        for namespace in namespaces { namespace.tearDown() }
        scopes = []
        namespaces = []
    }

    // MARK: Budgets

    /// Counts `count` evaluation steps against the budget.
    @inline(__always)
    func tick(_ count: Int = 1) throws {
        steps &+= count
        if steps > limits.maxSteps {
            throw TemplateError(.limitExceeded, "template rendering exceeded the step budget of \(limits.maxSteps) steps")
        }
    }

    /// Charges for producing a string of `text`'s size and refuses one over the size limit.
    func checkSize(_ text: String) throws {
        let bytes = text.utf8.count
        if bytes > limits.maxOutputBytes {
            throw TemplateError(.limitExceeded, "a string grew past the output limit of \(limits.maxOutputBytes) bytes")
        }
        try tick(bytes >> 2)
    }

    /// Charges for an operation that reads all of `value` (a filter, a method, `in`, `==`), so
    /// that repeating it on a large value exhausts the step budget instead of running for ever.
    @inline(__always)
    func chargeWork(for value: Value) throws {
        switch value {
        case .string(let text), .markup(let text): try tick(text.utf8.count >> 2)
        case .list(let list): try tick(list.items.count)
        case .dict(let dict): try tick(dict.count)
        default: break
        }
    }

    /// Charges for producing a container and refuses one nested deeper than allowed.
    func checkContainer(_ value: Value, count: Int) throws -> Value {
        if value.nestingDepth > limits.maxNestingDepth {
            throw TemplateError(.limitExceeded, "a value nests deeper than \(limits.maxNestingDepth) levels")
        }
        try checkCount(count)
        return value
    }

    /// Refuses a collection of more than `maxCollectionItems` elements and charges one step each.
    func checkCount(_ count: Int) throws {
        if count > limits.maxCollectionItems {
            throw TemplateError(.limitExceeded, "a collection grew past \(limits.maxCollectionItems) items")
        }
        try tick(count)
    }

    func write(_ text: String, into output: inout String) throws {
        if output.utf8.count + text.utf8.count > limits.maxOutputBytes {
            throw TemplateError(.limitExceeded, "template output exceeded \(limits.maxOutputBytes) bytes")
        }
        output += text
    }

    // MARK: Objects

    func makeScope(parent: Scope?) -> Scope {
        Scope(parent: parent)
    }

    /// Registers a scope that a macro, `caller` or recursive loop captures, so that the cycle
    /// (scope → macro → scope) is broken when the rendering ends. Charged like an allocation
    /// that lives until the end, which bounds the registry.
    func capture(_ scope: Scope) throws -> Scope {
        try tick(Self.retainedObjectCost)
        if !scope.isCaptured {
            scope.isCaptured = true
            scopes.append(scope)
        }
        return scope
    }

    func makeNamespace() throws -> NamespaceObject {
        try tick(Self.retainedObjectCost)
        let namespace = NamespaceObject()
        namespaces.append(namespace)
        return namespace
    }

    /// Steps charged for an object kept until the rendering ends (at most maxSteps / 64 of them).
    static let retainedObjectCost = 64

    /// A lazy iterator; `depth` bounds how many iterators may be chained (each consumes the last).
    func makeIterator(typeName: String, depth: Int, produce: @escaping () throws -> Value?) throws -> Value {
        if depth > limits.maxNestingDepth {
            throw TemplateError(.limitExceeded, "iterators chained deeper than \(limits.maxNestingDepth) levels")
        }
        return .iterator(ValueIterator(typeName: typeName, depth: depth, produce: produce))
    }

    func makeIterator(typeName: String, values: [Value]) -> Value {
        .iterator(ValueIterator(typeName: typeName, values: values))
    }

    // MARK: Statements

    func execute(_ statements: [TemplateStatement], scope: Scope, into output: inout String) throws -> Flow {
        for statement in statements {
            try tick()
            switch statement {
            case .text(let text):
                try write(text, into: &output)
            case .output(let expression, _):
                try write(try text(try evaluate(expression, scope)), into: &output)
            case .ifChain(let branches, let elseBody, _):
                var chosen = elseBody
                for branch in branches where try evaluate(branch.condition, scope).isTruthy {
                    chosen = branch.body
                    break
                }
                let flow = try execute(chosen, scope: scope, into: &output)
                if flow != .normal { return flow }
            case .forLoop(let loop):
                try runLoop(loop, iterable: try evaluate(loop.iterable, scope), scope: scope, depth0: 0, into: &output)
            case .assign(let target, let expression, _):
                try assign(target, try evaluate(expression, scope), in: scope)
            case .assignBlock(let target, let filters, let body, _):
                var text = try renderIsolated(body, parent: scope)
                var value = Value.string(text)
                for application in filters {
                    value = try applyFilter(
                        application.filter, name: application.name, to: value,
                        arguments: application.arguments, scope: scope)
                }
                text = ""
                try assign(target, value, in: scope)
            case .macro(let definition):
                scope.set(definition.name, .callable(CallableValue(.macro(definition, try capture(scope)))))
            case .callBlock(let call, let caller, _):
                guard case .call(let callee, let arguments) = call else { break }
                let callerValue = Value.callable(CallableValue(.caller(caller, try capture(scope))))
                let result = try evaluateCall(callee, arguments, scope: scope, extraKeyword: ("caller", callerValue))
                try write(try text(result), into: &output)
            case .filterBlock(let filters, let body, _):
                var value = Value.string(try renderIsolated(body, parent: scope))
                for application in filters {
                    value = try applyFilter(
                        application.filter, name: application.name, to: value,
                        arguments: application.arguments, scope: scope)
                }
                try write(try text(value), into: &output)
            case .with(let assignments, let body, _):
                let values = try assignments.map { try evaluate($0.1, scope) }
                let inner = makeScope(parent: scope)
                for (assignment, value) in zip(assignments, values) { try assign(assignment.0, value, in: inner) }
                let flow = try execute(body, scope: inner, into: &output)
                if flow != .normal { return flow }
            case .generation(let body, _):
                try write(try renderIsolated(body, parent: scope), into: &output)
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
        }
        return .normal
    }

    /// Renders `body` in a child scope into its own string (set blocks, filter blocks, the
    /// generation block): variables it sets stay inside, as in jinja2.
    private func renderIsolated(_ body: [TemplateStatement], parent: Scope) throws -> String {
        var text = ""
        _ = try execute(body, scope: makeScope(parent: parent), into: &text)
        return text
    }

    func runLoop(_ loop: ForLoop, iterable: Value, scope: Scope, depth0: Int, into output: inout String) throws {
        var items = try iterate(iterable)
        if let condition = loop.condition {
            var kept: [Value] = []
            for item in items {
                try tick()
                let probe = makeScope(parent: scope)
                try assign(loop.target, item, in: probe)
                if try evaluate(condition, probe).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            // jinja2 runs `else` in the loop's frame: what it sets stays there.
            _ = try execute(loop.elseBody, scope: makeScope(parent: scope), into: &output)
            return
        }
        let context = LoopContext(
            items: items, depth0: depth0,
            recursion: loop.isRecursive ? (loop, try capture(scope)) : nil)
        var iteration = makeScope(parent: scope)
        for (position, item) in items.enumerated() {
            try tick()
            context.advance(to: position)
            // Each iteration starts with fresh variables; the scope object is reused unless a
            // macro defined in the previous iteration still refers to it.
            if iteration.isCaptured { iteration = makeScope(parent: scope) } else { iteration.reset() }
            try assign(loop.target, item, in: iteration)
            iteration.set("loop", .loop(context))
            if try execute(loop.body, scope: iteration, into: &output) == .breakLoop { break }
        }
    }

    func assign(_ target: AssignTarget, _ value: Value, in scope: Scope) throws {
        switch target {
        case .name(let name):
            scope.set(name, value)
        case .tuple(let targets):
            switch value {
            case .none, .bool, .int, .double, .namespace, .callable:
                throw TemplateError.type("cannot unpack non-iterable \(value.typeName) object")
            default: break
            }
            let items = try iterate(value)
            if items.count < targets.count {
                throw TemplateError(.value, "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            if items.count > targets.count {
                throw TemplateError(.value, "too many values to unpack (expected \(targets.count))")
            }
            for (inner, item) in zip(targets, items) { try assign(inner, item, in: scope) }
        case .namespaceAttribute(let name, let attribute):
            guard case .namespace(let namespace) = scope.lookup(name) ?? .none else {
                throw TemplateError.runtime("cannot assign attribute on non-namespace object")
            }
            namespace.setAttribute(attribute, value)
        }
    }
}
