/// A set of token ids as the bit mask `TokenSampler.sample(logits:workspace:allowedTokens:)`
/// takes: token i is in the set when bit i % 64 of word i / 64 is set. Grammar engines fill one
/// per decoding step; this type owns the words so that a sequence can keep one and refill it
/// without allocating.
public struct TokenMask: Sendable, Equatable {
    /// One bit per vocabulary token, low bits first.
    public private(set) var words: [UInt64]
    public let vocabularySize: Int

    /// The number of 64-bit words a mask over `vocabularySize` tokens has.
    public static func wordCount(vocabularySize: Int) -> Int { (vocabularySize + 63) / 64 }

    /// A mask over `vocabularySize` tokens allowing none of them, or all of them.
    public init(vocabularySize: Int, allowingAll: Bool = false) {
        precondition(vocabularySize > 0, "a vocabulary has at least one token")
        self.vocabularySize = vocabularySize
        words = [UInt64](repeating: 0, count: Self.wordCount(vocabularySize: vocabularySize))
        if allowingAll { setAll() }
    }

    /// A mask allowing exactly `tokens`.
    public init<S: Sequence>(vocabularySize: Int, allowing tokens: S) where S.Element == Int32 {
        self.init(vocabularySize: vocabularySize)
        for token in tokens { insert(token) }
    }

    public func contains(_ token: Int32) -> Bool {
        let index = Int(token)
        guard index >= 0, index < vocabularySize else { return false }
        return words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    public mutating func insert(_ token: Int32) {
        let index = Int(token)
        precondition(index >= 0 && index < vocabularySize, "token \(token) is outside the vocabulary")
        words[index >> 6] |= 1 << UInt64(index & 63)
    }

    public mutating func remove(_ token: Int32) {
        let index = Int(token)
        guard index >= 0, index < vocabularySize else { return }
        words[index >> 6] &= ~(1 << UInt64(index & 63))
    }

    /// Allows every token (the bits past the vocabulary stay clear).
    public mutating func setAll() {
        for index in words.indices { words[index] = ~0 }
        let spare = words.count * 64 - vocabularySize
        if spare > 0 { words[words.count - 1] >>= UInt64(spare) }
    }

    /// How many tokens are allowed.
    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The words, for a grammar engine to fill in place.
    public mutating func withUnsafeMutableWords<R>(_ body: (UnsafeMutableBufferPointer<UInt64>) throws -> R) rethrows -> R {
        try words.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// The words, as `TokenSampler.sample` takes them.
    public func withUnsafeWords<R>(_ body: (UnsafeBufferPointer<UInt64>) throws -> R) rethrows -> R {
        try words.withUnsafeBufferPointer { try body($0) }
    }
}
