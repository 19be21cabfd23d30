/// The small reference objects a rendering creates: `namespace()` objects, callables and lazy
/// iterators. Each rendering tears down the ones it made (see `TemplateRenderer`) so that cycles a
/// template builds (a namespace holding itself, a macro stored in its own scope) never leak.

/// `namespace(...)`: the one mutable object templates have, assigned with `{% set ns.x = ... %}`.
final class NamespaceObject {
    private(set) var names: [String] = []
    private var storage: [String: Value] = [:]

    func attribute(_ name: String) -> Value? { storage[name] }

    func setAttribute(_ name: String, _ value: Value) {
        if storage.updateValue(value, forKey: name) == nil { names.append(name) }
    }

    var attributes: [(String, Value)] { names.map { ($0, storage[$0]!) } }

    func tearDown() {
        names = []
        storage = [:]
    }
}

/// Something a template can call: a macro, a builtin function, or a method of a value.
final class CallableValue {
    enum Kind {
        /// A `{% macro %}` with the scope it was defined in.
        case macro(MacroDefinition, Scope)
        /// The body of a `{% call %}` block, passed to the macro as `caller`.
        case caller(MacroDefinition, Scope)
        case function(BuiltinFunction)
        /// `receiver.name`, e.g. `message.get` or `text.split`.
        case method(receiver: Value, name: String)
        /// `loop(...)` inside a `{% for ... recursive %}`.
        case loopRecursion(LoopContext)
        /// `loop.cycle` and `loop.changed`.
        case loopMethod(LoopContext, String)
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    var isMacro: Bool {
        switch kind {
        case .macro, .caller: return true
        default: return false
        }
    }

    var typeName: String {
        switch kind {
        case .macro, .caller: return "Macro"
        case .function(let function): return function.isPythonBuiltin ? "builtin_function_or_method" : "function"
        case .method: return "builtin_function_or_method"
        case .loopRecursion: return "LoopContext"
        case .loopMethod: return "method"
        }
    }

    /// What Python would print for this object (addresses omitted).
    var displayText: String {
        switch kind {
        case .macro(let definition, _), .caller(let definition, _): return "<Macro '\(definition.name)'>"
        case .function(let function): return "<function \(function.rawValue)>"
        case .method(let receiver, let name): return "<built-in method \(name) of \(receiver.typeName) object>"
        case .loopRecursion(let loop): return "<LoopContext \(loop.index)/\(loop.length)>"
        case .loopMethod(_, let name): return "<bound method LoopContext.\(name)>"
        }
    }
}

/// A single-use lazy sequence, like a Python generator: `map`, `select`, `reverse`, `items`...
/// produce one; iterating it consumes it, and it has no length and is always true.
final class ValueIterator {
    let typeName: String
    let depth: Int
    private var produce: (() throws -> Value?)?

    init(typeName: String, depth: Int, produce: @escaping () throws -> Value?) {
        self.typeName = typeName
        self.depth = depth
        self.produce = produce
    }

    /// An iterator over already-computed values.
    convenience init(typeName: String, values: [Value]) {
        var position = 0
        let depth = values.reduce(0) { max($0, $1.nestingDepth) } + 1
        self.init(typeName: typeName, depth: depth) {
            guard position < values.count else { return nil }
            defer { position += 1 }
            return values[position]
        }
    }

    func next() throws -> Value? {
        guard let produce else { return nil }
        if let value = try produce() { return value }
        self.produce = nil
        return nil
    }

    func tearDown() { produce = nil }
}
