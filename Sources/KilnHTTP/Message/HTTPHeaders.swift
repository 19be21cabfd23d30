/// An ordered list of header fields with case-insensitive lookup by name.
///
/// Order and duplicates are kept as received, because framing rules (duplicate `Host`, several
/// `Content-Length` fields) depend on them.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (name: String, value: String)

    private var fields: [Element] = []

    public init() {}

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The number of fields, counting duplicates.
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> { fields.makeIterator() }

    /// The field at `position` in received order, or nil past the end.
    func field(at position: Int) -> Element? {
        position < fields.count ? fields[position] : nil
    }

    /// The first `count` fields.
    func prefix(_ count: Int) -> HTTPHeaders {
        var result = HTTPHeaders()
        result.fields = Array(fields.prefix(count))
        return result
    }

    /// Appends a field, keeping any existing field of the same name.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every field named `name` with a single field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        fields.append((name: name, value: value))
    }

    /// Removes every field named `name`.
    public mutating func remove(name: String) {
        fields.removeAll { Self.namesEqual($0.name, name) }
    }

    // Lookups walk the fields by position: a `for … in` loop would copy the array (and retain
    // its storage) into an iterator, and these run several times per request.

    /// The value of the first field named `name`, if any.
    public subscript(name: String) -> String? {
        for index in fields.indices where Self.namesEqual(fields[index].name, name) { return fields[index].value }
        return nil
    }

    /// Every value of the fields named `name`, in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.namesEqual($0.name, name) }.map(\.value)
    }

    /// Whether a field named `name` exists.
    public func contains(name: String) -> Bool {
        for index in fields.indices where Self.namesEqual(fields[index].name, name) { return true }
        return false
    }

    /// The comma-separated list elements of every field named `name`, trimmed and lowercased
    /// (for `Connection`, `Transfer-Encoding`, `Accept-Encoding` and the like).
    public func listElements(for name: String) -> [String] {
        var elements: [String] = []
        for value in values(for: name) {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                elements.append(HTTPHeaders.trimmed(part).lowercased())
            }
        }
        return elements
    }

    /// Whether some field named `name` holds `token` (lowercase) as one of its comma-separated
    /// elements, compared without regard to ASCII case; allocates nothing.
    public func containsListElement(_ token: String, for name: String) -> Bool {
        for index in fields.indices where Self.namesEqual(fields[index].name, name) {
            if Self.list(fields[index].value, contains: token) { return true }
        }
        return false
    }

    /// Compares two field names without regard to ASCII case.
    public static func namesEqual(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        if a == b { return true }
        var left = a, right = b
        return left.withUTF8 { x in
            right.withUTF8 { y in
                for index in 0..<x.count where x[index] != y[index] {
                    let folded = x[index] | 0x20
                    if folded != y[index] | 0x20 || folded < 0x61 || folded > 0x7A { return false }
                }
                return true
            }
        }
    }

    /// Whether the comma-separated `list` has an element equal to `token` (lowercase) once
    /// trimmed of spaces and tabs, ignoring ASCII case.
    static func list(_ list: String, contains token: String) -> Bool {
        let bytes = list.utf8, wanted = token.utf8
        var index = bytes.startIndex
        while index < bytes.endIndex {
            // One element: skip leading whitespace, compare, then require only whitespace to the comma.
            while index < bytes.endIndex, bytes[index] == HTTPSyntax.space || bytes[index] == HTTPSyntax.tab {
                index = bytes.index(after: index)
            }
            var matches = true
            var wantedIndex = wanted.startIndex
            while index < bytes.endIndex, bytes[index] != UInt8(ascii: ",") {
                let byte = bytes[index]
                if byte == HTTPSyntax.space || byte == HTTPSyntax.tab {
                    // Trailing whitespace ends the element's text.
                    var rest = index
                    while rest < bytes.endIndex, bytes[rest] == HTTPSyntax.space || bytes[rest] == HTTPSyntax.tab {
                        rest = bytes.index(after: rest)
                    }
                    if rest < bytes.endIndex && bytes[rest] != UInt8(ascii: ",") { matches = false }
                    index = rest
                    continue
                }
                if matches {
                    if wantedIndex < wanted.endIndex && HTTPSyntax.lowercased(byte) == wanted[wantedIndex] {
                        wantedIndex = wanted.index(after: wantedIndex)
                    } else {
                        matches = false
                    }
                }
                index = bytes.index(after: index)
            }
            if matches && wantedIndex == wanted.endIndex { return true }
            if index < bytes.endIndex { index = bytes.index(after: index) }
        }
        return false
    }

    static func trimmed(_ text: Substring) -> String {
        var slice = text[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
