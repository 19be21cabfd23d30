import Foundation

/// A model's vocabulary prepared for computing token masks, built once per model and shared by every
/// grammar and sequence: a trie of the tokens' bytes laid out in preorder, so that a walk skips a
/// dead subtree with one jump and the tokens under any node are one contiguous range.
///
/// Tokens are given as their bytes exactly as decoding emits them (for byte-level BPE, the bytes
/// behind the `Ġ`-style characters). A token with no bytes (control tokens, which a grammar must
/// never produce) is never allowed; the end-of-sequence tokens are allowed exactly when the grammar
/// can end.
public final class TokenVocabulary: Sendable {
    /// The number of token ids (the length of a mask in bits).
    public let count: Int
    /// Ids that end a sequence.
    public let endOfSequenceTokens: [Int32]
    /// Each token's bytes, as given.
    let tokenBytes: [[UInt8]]

    // The trie, node 0 being the root (no byte). Node `i`'s subtree is `i..<subtreeEnd[i]`.
    let nodeByte: [UInt8]
    let nodeDepth: [UInt16]
    let subtreeEnd: [Int32]
    /// Tokens ending at node `i` are `tokensInPreorder[tokenStart[i]..<tokenStart[i + 1]]`.
    let tokenStart: [Int32]
    let tokensInPreorder: [Int32]
    /// The longest token, in bytes.
    let maxTokenLength: Int
    /// For each node, the most characters (ASCII or UTF-8 lead bytes) on any path below it.
    let charactersBelow: [UInt16]
    /// Entry `n`: the mask of the tokens that are JSON string text throughout and hold at most `n`
    /// characters (the last entry: all of them). Inside a `maxLength` string with `n` characters
    /// left these are allowed, and a mask starts from them.
    let jsonTextTokensWithin: [[UInt64]]

    private let pureTableLock = NSLock()
    nonisolated(unsafe) private var pureTables: [[UInt64]: [UInt64]] = [:]
    nonisolated(unsafe) private var skipTables: [[UInt64]: [Int32]] = [:]

    /// Builds the trie. `tokens[id]` is token `id`'s bytes; `endOfSequence` the ids that end a sequence.
    public init(tokens: [[UInt8]], endOfSequence: Set<Int32>) {
        count = tokens.count
        tokenBytes = tokens
        endOfSequenceTokens = endOfSequence.sorted()
        let order = (0..<tokens.count).filter { !tokens[$0].isEmpty && !endOfSequence.contains(Int32($0)) }
            .sorted { tokens[$0].lexicographicallyPrecedes(tokens[$1]) }
        var bytes: [UInt8] = [0]
        var depths: [UInt16] = [0]
        var ends: [Int32] = [0]
        var starts: [Int32] = [0]
        var preorder: [Int32] = []
        preorder.reserveCapacity(order.count)
        var path: [Int32] = [0]  // node at each depth along the current token
        var previous: [UInt8] = []
        var longest = 0
        for id in order {
            let token = tokens[id]
            longest = max(longest, token.count)
            var common = 0
            while common < min(previous.count, token.count) && previous[common] == token[common] { common += 1 }
            while path.count > common + 1 {
                ends[Int(path.removeLast())] = Int32(bytes.count)
            }
            for byte in token[common...] {
                path.append(Int32(bytes.count))
                bytes.append(byte)
                depths.append(UInt16(path.count - 1))
                ends.append(0)
                starts.append(Int32(preorder.count))
            }
            preorder.append(Int32(id))
            previous = token
        }
        while let node = path.popLast() { ends[Int(node)] = Int32(bytes.count) }
        starts.append(Int32(preorder.count))
        nodeByte = bytes
        nodeDepth = depths
        subtreeEnd = ends
        tokenStart = starts
        tokensInPreorder = preorder
        maxTokenLength = longest
        var parents = [Int32](repeating: 0, count: bytes.count)
        var lastAtDepth = [Int32](repeating: 0, count: longest + 1)
        for node in 1..<max(bytes.count, 1) {
            let depth = Int(depths[node])
            parents[node] = lastAtDepth[depth - 1]
            lastAtDepth[depth] = Int32(node)
        }
        var below = [UInt16](repeating: 0, count: bytes.count)
        for node in stride(from: bytes.count - 1, through: 1, by: -1) {
            let starts: UInt16 = bytes[node] < 0x80 || bytes[node] >= 0xC0 ? 1 : 0
            let parent = Int(parents[node])
            below[parent] = max(below[parent], starts + below[node])
        }
        charactersBelow = below
        let jsonText = Self.textTokens(ascii: Self.jsonStringASCII, tokens: tokens, endOfSequence: endOfSequenceTokens)
        jsonTextTokensWithin = Self.tokensByCharacters(jsonText, tokens: tokens)
        // The inside of a JSON string (every schema and json_object grammar has one) is the state
        // most masks are computed in: prepare its tables now rather than in a first request's step.
        _ = pureSubtreesOfText(ascii: Self.jsonStringASCII)
    }

    /// The mask of the tokens that are text throughout: ASCII bytes of `ascii` and well-formed
    /// UTF-8 characters, the last of which may be cut off.
    private static func textTokens(ascii: [UInt64], tokens: [[UInt8]], endOfSequence: [Int32]) -> [UInt64] {
        var text = [UInt64](repeating: 0, count: (tokens.count + 63) / 64)
        for (id, bytes) in tokens.enumerated() where !bytes.isEmpty && !endOfSequence.contains(Int32(id)) {
            var state = 0
            for byte in bytes {
                let isText = byte >= 0x80 || (ascii[Int(byte >> 6)] >> UInt64(byte & 63)) & 1 != 0
                state = isText ? UTF8Loop.next(state, byte) : -1
                if state < 0 { break }
            }
            if state >= 0 { text[id >> 6] |= 1 << UInt64(id & 63) }
        }
        return text
    }

    /// Cumulative masks of `text`'s tokens by their number of characters (see `jsonTextTokensWithin`).
    private static func tokensByCharacters(_ text: [UInt64], tokens: [[UInt8]]) -> [[UInt64]] {
        var byCount: [[Int32]] = [[]]
        for id in tokens.indices where (text[id >> 6] >> UInt64(id & 63)) & 1 != 0 {
            let characters = tokens[id].reduce(0) { $0 + ($1 < 0x80 || $1 >= 0xC0 ? 1 : 0) }
            while byCount.count <= characters { byCount.append([]) }
            byCount[characters].append(Int32(id))
        }
        var levels: [[UInt64]] = []
        var mask = [UInt64](repeating: 0, count: text.count)
        for ids in byCount {
            for id in ids { mask[Int(id) >> 6] |= 1 << UInt64(id & 63) }
            levels.append(mask)
        }
        return levels
    }

    /// The ASCII bytes that stand for themselves in a JSON string: printable, not `"` or `\`.
    static let jsonStringASCII: [UInt64] = {
        var words = [UInt64](repeating: 0, count: 4)
        for byte in 0x20...0x7E where byte != 0x22 && byte != 0x5C { words[byte >> 6] |= 1 << UInt64(byte & 63) }
        return words
    }()

    /// The number of trie nodes, root included.
    public var nodeCount: Int { nodeByte.count }

    /// Bytes the trie and token table occupy.
    public var memoryBytes: Int {
        nodeByte.count * (1 + 2 + 4 + 4) + tokensInPreorder.count * 4 + tokenBytes.reduce(0) { $0 + $1.count + 16 }
    }

    /// The bytes of token `id`.
    public func bytes(of id: Int32) -> [UInt8] { tokenBytes[Int(id)] }

    /// For a byte set (four words), a bit per trie node: set when every byte below the node is in
    /// the set, so that a state that loops on the set accepts the node's whole subtree. Computed once
    /// per set and kept (JSON grammars share a handful of sets, such as a string's characters).
    func pureSubtrees(for set: [UInt64]) -> [UInt64] {
        pureTableLock.lock()
        defer { pureTableLock.unlock() }
        if let table = pureTables[set] { return table }
        let nodes = nodeByte.count
        var table = [UInt64](repeating: 0, count: (nodes + 63) / 64)
        var node = nodes - 1
        while node >= 0 {
            var pure = true
            var child = node + 1
            let end = Int(subtreeEnd[node])
            while child < end {
                let byte = nodeByte[child]
                if (set[Int(byte >> 6)] >> UInt64(byte & 63)) & 1 == 0 || (table[child >> 6] >> UInt64(child & 63)) & 1 == 0 {
                    pure = false
                    break
                }
                child = Int(subtreeEnd[child])
            }
            if pure { table[node >> 6] |= 1 << UInt64(node & 63) }
            node -= 1
        }
        pureTables[set] = table
        return table
    }

    /// Like `pureSubtrees`, for a configuration that loops on the ASCII bytes of `ascii` and on
    /// every well-formed multi-byte UTF-8 character: a node's bit is set when every path below it,
    /// read from a character boundary, stays such text (a token may end inside a character).
    /// Also returns the mask of the tokens that are such text throughout, and, for each node, the
    /// first of it and its following siblings that a walk must visit when their parent is reached
    /// along text and between characters (the others hold only such tokens), or the parent's end.
    func pureSubtreesOfText(ascii: [UInt64]) -> (pure: [UInt64], textTokens: [UInt64], skip: [Int32]) {
        let key = ascii + [1]
        pureTableLock.lock()
        defer { pureTableLock.unlock() }
        if let table = pureTables[key], let text = pureTables[ascii + [2]], let skip = skipTables[ascii] { return (table, text, skip) }
        let nodes = nodeByte.count
        let words = (nodes + 63) / 64
        // One table per state of the UTF-8 decoder; only the boundary state's is kept.
        var tables = [UInt64](repeating: 0, count: words * 8)
        var node = nodes - 1
        while node >= 0 {
            let end = Int(subtreeEnd[node])
            for state in 0..<8 {
                var pure = true
                var child = node + 1
                while child < end {
                    let byte = nodeByte[child]
                    let next = UTF8Loop.next(state, byte)
                    let allowed = next >= 0 && (byte >= 0x80 || (ascii[Int(byte >> 6)] >> UInt64(byte & 63)) & 1 != 0)
                    if !allowed || (tables[next * words + child >> 6] >> UInt64(child & 63)) & 1 == 0 {
                        pure = false
                        break
                    }
                    child = Int(subtreeEnd[child])
                }
                if pure { tables[state * words + node >> 6] |= 1 << UInt64(node & 63) }
            }
            node -= 1
        }
        let table = Array(tables[0..<words])
        pureTables[key] = table
        let text = Self.textTokens(ascii: ascii, tokens: tokenBytes, endOfSequence: endOfSequenceTokens)
        pureTables[ascii + [2]] = text
        var skip = [Int32](repeating: 0, count: nodes + 1)
        skip[nodes] = Int32(nodes)
        node = nodes - 1
        while node >= 1 {
            let byte = nodeByte[node]
            let decoder = UTF8Loop.next(0, byte)
            let isText = decoder >= 0 && (byte >= 0x80 || (ascii[Int(byte >> 6)] >> UInt64(byte & 63)) & 1 != 0)
            let covered = isText && (tables[decoder * words + node >> 6] >> UInt64(node & 63)) & 1 != 0
            let next = Int(subtreeEnd[node])
            let nextIsSibling = next < nodes && nodeDepth[next] == nodeDepth[node]
            skip[node] = covered ? (nextIsSibling ? skip[next] : Int32(next)) : Int32(node)
            node -= 1
        }
        skipTables[ascii] = skip
        return (table, text, skip)
    }
}
