/// A value while a template renders: Python's objects as jinja2 sees them in Hugging Face's
/// sandboxed environment. Lists and dicts are immutable there (the sandbox refuses `append`,
/// `pop`, `update`...), so Swift value semantics match Python's reference semantics exactly;
/// only `namespace()` objects are mutable and shared.
enum Value {
    case undefined(UndefinedValue)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// A string marked safe (`|safe`, `|escape`): prints the same, but `+` escapes the other side.
    case markup(String)
    case list(ValueList)
    case dict(DictStorage)
    case namespace(NamespaceObject)
    case callable(CallableValue)
    /// A single-use lazy sequence (`map`, `select`, `reverse`, `items` return these in jinja2).
    case iterator(ValueIterator)
    case loop(LoopContext)

    static func list(_ items: [Value]) -> Value { .list(ValueList(items)) }
    static func tuple(_ items: [Value]) -> Value { .list(ValueList(items, isTuple: true)) }
    static func undefined(name: String) -> Value { .undefined(UndefinedValue(name: name)) }
    static func undefined(hint: String) -> Value { .undefined(UndefinedValue(hint: hint)) }
    static var emptyString: Value { .string("") }

    /// Python's `type(value).__name__`.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .list(let list): return list.isTuple ? "tuple" : "list"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable(let callable): return callable.typeName
        case .iterator(let iterator): return iterator.typeName
        case .loop: return "LoopContext"
        }
    }

    /// jinja2's `object_type_repr`, used in "'dict object' has no attribute" messages.
    var objectTypeDescription: String {
        switch self {
        case .none: return "None"
        case .namespace: return "jinja2.utils.Namespace object"
        case .markup: return "markupsafe.Markup object"
        case .loop: return "jinja2.runtime.LoopContext object"
        case .callable(let callable) where callable.isMacro: return "jinja2.runtime.Macro object"
        default: return "\(typeName) object"
        }
    }

    /// Python truthiness (`bool(value)`).
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .double(let value): return value != 0
        case .string(let value), .markup(let value): return !value.isEmpty
        case .list(let list): return !list.items.isEmpty
        case .dict(let dict): return dict.count > 0
        case .namespace, .callable, .iterator, .loop: return true
        }
    }

    var isMarkup: Bool {
        if case .markup = self { return true }
        return false
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The text of a `str` or `Markup` value.
    var stringValue: String? {
        switch self {
        case .string(let value), .markup(let value): return value
        default: return nil
        }
    }

    /// An `int`, treating `bool` as the `int` subclass it is in Python.
    var intValue: Int? {
        switch self {
        case .int(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    /// A number as a double (`int`, `bool` or `float`).
    var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .bool(let value): return value ? 1 : 0
        case .double(let value): return value
        default: return nil
        }
    }

    /// How deeply containers nest inside this value (0 for scalars).
    var nestingDepth: Int {
        switch self {
        case .list(let list): return list.depth
        case .dict(let dict): return dict.depth
        case .iterator(let iterator): return iterator.depth
        default: return 0
        }
    }
}

/// A Python list or tuple; remembers its nesting depth so that building ever deeper values can
/// be refused before it threatens the stack.
struct ValueList {
    let items: [Value]
    let isTuple: Bool
    let depth: Int

    init(_ items: [Value], isTuple: Bool = false) {
        self.items = items
        self.isTuple = isTuple
        var deepest = 0
        for item in items {
            let itemDepth = item.nestingDepth
            if itemDepth > deepest { deepest = itemDepth }
        }
        depth = deepest + 1
    }
}

/// jinja2's default `Undefined`: prints as nothing, is false, iterates as empty, and raises
/// `UndefinedError` (or `SecurityError` for a refused attribute) when used any further.
final class UndefinedValue {
    let message: String
    let isSecurityViolation: Bool

    /// A variable `name` that does not exist.
    init(name: String) {
        message = "\(Value.string(name).shortRepr) is undefined"
        isSecurityViolation = false
    }

    init(hint: String, isSecurityViolation: Bool = false) {
        message = hint
        self.isSecurityViolation = isSecurityViolation
    }

    /// A missing attribute or item `name` of `object`, worded as jinja2 words it.
    init(missing name: Value, of object: Value) {
        if name.stringValue != nil {
            message = "\(Value.string(object.objectTypeDescription).pythonRepr) has no attribute \(name.shortRepr)"
        } else {
            message = "\(object.objectTypeDescription) has no element \(name.shortRepr)"
        }
        isSecurityViolation = false
    }

    var error: TemplateError {
        TemplateError(isSecurityViolation ? .security : .undefined, message)
    }
}
