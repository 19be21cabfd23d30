/// Bounds on what a tokenizer accepts from a file and how much memory its cache may use.
public struct TokenizerLimits: Sendable {
    /// Largest vocabulary accepted (`tokenizer.ggml.tokens`).
    public var maxVocabularySize = 1 << 21
    /// Largest merge list accepted (`tokenizer.ggml.merges`).
    public var maxMergeCount = 1 << 22
    /// Longest single token text, in bytes.
    public var maxTokenBytes = 1 << 16
    /// Most slots (64 bytes each) of the per-call byte-level BPE word cache, which is sized to
    /// the text; 0 disables caching (benchmarks use this to time the merge loop itself).
    public var wordCacheEntries = 1 << 15

    public init() {}
}
