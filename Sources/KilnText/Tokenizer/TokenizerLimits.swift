/// Bounds on what a tokenizer accepts from a file and how much memory its cache may use.
public struct TokenizerLimits: Sendable {
    /// Largest vocabulary accepted (`tokenizer.ggml.tokens`).
    public var maxVocabularySize = 1 << 21
    /// Largest merge list accepted (`tokenizer.ggml.merges`).
    public var maxMergeCount = 1 << 22
    /// Longest single token text, in bytes.
    public var maxTokenBytes = 1 << 16
    /// Words remembered by the byte-level BPE word cache before it is cleared; 0 disables it.
    public var wordCacheEntries = 1 << 16
    /// Words longer than this (in bytes) are never cached.
    public var maxCachedWordBytes = 128

    public init() {}
}
