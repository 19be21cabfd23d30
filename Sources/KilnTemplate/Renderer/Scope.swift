/// Variables visible at one point of a rendering: a chain from the innermost loop, macro or
/// block out to the template's top level and the globals.
///
/// A scope holds few variables (a loop's target and `loop`, a macro's parameters), so they are
/// searched linearly: cheaper than hashing, which dominated tight loops.
final class Scope {
    private var entries: [(name: String, value: Value)] = []
    /// Positions in `entries`, built once a scope holds many variables (a template's top level
    /// can set hundreds), so lookups stay cheap.
    private var index: [String: Int]?
    private static let indexThreshold = 16
    let parent: Scope?
    /// Set once a macro, `caller` or recursive loop keeps a reference to this scope: it must
    /// then not be reused for the next loop iteration.
    var isCaptured = false

    init(parent: Scope?) {
        self.parent = parent
    }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let current = scope {
            if let position = current.position(of: name) { return current.entries[position].value }
            scope = current.parent
        }
        return nil
    }

    private func position(of name: String) -> Int? {
        if let index { return index[name] }
        return entries.firstIndex { $0.name == name }
    }

    func set(_ name: String, _ value: Value) {
        if let position = position(of: name) {
            entries[position].value = value
            return
        }
        entries.append((name, value))
        if index != nil {
            index![name] = entries.count - 1
        } else if entries.count > Self.indexThreshold {
            var built: [String: Int] = [:]
            for (position, entry) in entries.enumerated() { built[entry.name] = position }
            index = built
        }
    }

    /// Empties the scope for reuse by the next loop iteration.
    func reset() {
        entries.removeAll(keepingCapacity: true)
        index = nil
    }

    func tearDown() {
        entries = []
        index = nil
    }
}
