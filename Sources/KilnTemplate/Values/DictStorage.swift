/// A Python dict: insertion-ordered, immutable once built (the sandbox forbids mutation), keyed
/// by Python equality (`1 == 1.0 == True`, strings by code points).
final class DictStorage {
    let keys: [Value]
    let values: [Value]
    let depth: Int
    /// Built only for larger dicts; small ones (most chat messages) are searched linearly.
    private let index: [DictKey: Int]?

    private static let indexThreshold = 8

    /// Builds a dict from pairs; a repeated key keeps its first position and its last value.
    init(pairs: [(Value, Value)]) throws {
        var keys: [Value] = []
        var values: [Value] = []
        keys.reserveCapacity(pairs.count)
        values.reserveCapacity(pairs.count)
        var hashedKeys: [DictKey] = []
        hashedKeys.reserveCapacity(pairs.count)
        var index: [DictKey: Int] = [:]
        let useIndex = pairs.count > Self.indexThreshold
        var deepest = 0
        for (key, value) in pairs {
            let hashed = try DictKey(key)
            let existing = useIndex ? index[hashed] : hashedKeys.firstIndex(of: hashed)
            if let existing {
                values[existing] = value
            } else {
                if useIndex { index[hashed] = keys.count }
                hashedKeys.append(hashed)
                keys.append(key)
                values.append(value)
            }
        }
        for key in keys { deepest = max(deepest, key.nestingDepth) }
        for value in values { deepest = max(deepest, value.nestingDepth) }
        self.keys = keys
        self.values = values
        self.index = useIndex ? index : nil
        depth = deepest + 1
    }

    var count: Int { keys.count }

    var pairs: Zip2Sequence<[Value], [Value]> { zip(keys, values) }

    /// The value under `key`, or nil when absent. Throws for unhashable keys (lists, dicts).
    func value(for key: Value) throws -> Value? {
        if let position = try position(of: key) { return values[position] }
        return nil
    }

    /// Lookup by a string key, the common case, without building a `DictKey`.
    func value(forString key: String) -> Value? {
        if let index {
            return index[.string(ExactString(key))].map { values[$0] }
        }
        for (position, candidate) in keys.enumerated() {
            if case .string(let text) = candidate, PythonText.equal(text, key) { return values[position] }
            if case .markup(let text) = candidate, PythonText.equal(text, key) { return values[position] }
        }
        return nil
    }

    func position(of key: Value) throws -> Int? {
        if let text = key.stringValue, index == nil {
            for (position, candidate) in keys.enumerated() {
                if let candidateText = candidate.stringValue, PythonText.equal(candidateText, text) { return position }
            }
            return nil
        }
        let hashed = try DictKey(key)
        if let index { return index[hashed] }
        for (position, candidate) in keys.enumerated() where (try? DictKey(candidate)) == hashed {
            return position
        }
        return nil
    }
}

/// A string compared and hashed by its code points, as Python does, rather than by Swift's
/// canonical equivalence.
struct ExactString: Hashable {
    let text: String
    init(_ text: String) { self.text = text }

    static func == (lhs: ExactString, rhs: ExactString) -> Bool { PythonText.equal(lhs.text, rhs.text) }

    func hash(into hasher: inout Hasher) {
        for byte in text.utf8 { hasher.combine(byte) }
    }
}

/// The hashable projection of a Python dict key.
enum DictKey: Hashable {
    case none
    /// Integers, booleans and integral floats hash alike in Python (`1 == 1.0 == True`).
    case int(Int)
    case double(Double)
    case string(ExactString)
    case tuple([DictKey])

    init(_ value: Value) throws {
        switch value {
        case .none: self = .none
        case .bool(let flag): self = .int(flag ? 1 : 0)
        case .int(let number): self = .int(number)
        case .double(let number):
            if number.rounded() == number, abs(number) < 9.2e18 {
                self = .int(Int(number))
            } else {
                self = .double(number)
            }
        case .string(let text), .markup(let text): self = .string(ExactString(text))
        case .list(let list) where list.isTuple: self = .tuple(try list.items.map(DictKey.init))
        default: throw TemplateError.type("unhashable type: '\(value.typeName)'")
        }
    }
}
