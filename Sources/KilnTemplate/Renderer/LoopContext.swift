/// The `loop` variable inside `{% for %}`: position, neighbours, `cycle`, `changed`, and for
/// `recursive` loops the ability to render the body again on children.
final class LoopContext {
    let items: [Value]
    private(set) var index0 = 0
    /// 0 for the outermost level of a recursive loop.
    let depth0: Int
    /// The loop statement and its scope, for `loop(children)` in recursive loops.
    let recursion: (loop: ForLoop, scope: Scope)?
    private var lastChangedValue: [Value]?

    init(items: [Value], depth0: Int, recursion: (loop: ForLoop, scope: Scope)?) {
        self.items = items
        self.depth0 = depth0
        self.recursion = recursion
    }

    func advance(to position: Int) { index0 = position }

    var index: Int { index0 + 1 }
    var length: Int { items.count }

    func attribute(_ name: String) -> Value? {
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(items.count - index0)
        case "revindex0": return .int(items.count - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == items.count - 1)
        case "length": return .int(items.count)
        case "depth": return .int(depth0 + 1)
        case "depth0": return .int(depth0)
        case "previtem":
            return index0 > 0 ? items[index0 - 1] : .undefined(hint: "there is no previous item")
        case "nextitem":
            return index0 + 1 < items.count ? items[index0 + 1] : .undefined(hint: "there is no next item")
        case "cycle", "changed":
            return .callable(CallableValue(.loopMethod(self, name)))
        default:
            return nil
        }
    }

    /// `loop.cycle(a, b, ...)`: the argument at the current index, round robin.
    func cycle(_ arguments: [Value]) throws -> Value {
        guard !arguments.isEmpty else { throw TemplateError.type("no items for cycling given") }
        return arguments[index0 % arguments.count]
    }

    /// `loop.changed(values...)`: true the first time and whenever the values differ from the
    /// previous call's.
    func changed(_ arguments: [Value]) throws -> Bool {
        if let last = lastChangedValue, last.count == arguments.count,
            try zip(last, arguments).allSatisfy({ try PythonOperators.equal($0, $1) })
        {
            return false
        }
        lastChangedValue = arguments
        return true
    }
}
