import KilnFormats

/// The architectures Kiln runs (GGUF's `general.architecture`); each is one file in
/// `Models/Architectures/` over the shared blocks of `Models/Blocks/`.
public enum ModelArchitecture: String, Sendable, CaseIterable {
    /// `llama`: SmolLM, Llama 2/3, Mistral and relatives. RoPE pairs adjacent elements.
    case llama
    /// `qwen2`: biases on the Q, K and V projections; RoPE pairs element i with i + d/2 (NeoX).
    case qwen2
    /// `gemma3`: interleaved sliding-window and global layers, query/key norms, pre- and
    /// post-norms, GeGLU, embeddings scaled by √width.
    case gemma3
    /// `qwen3`: the Llama block with query/key norms and NeoX RoPE, no biases.
    case qwen3
    /// `phi3`: the Llama block with fused QKV and gate/up tensors, NeoX RoPE, LongRoPE scaling.
    case phi3

    static var supportedNames: [String] { allCases.map(\.rawValue) }

    /// The file that defines the architecture.
    var definition: any DecoderArchitecture.Type {
        switch self {
        case .llama: Llama.self
        case .qwen2: Qwen2.self
        case .gemma3: Gemma3.self
        case .qwen3: Qwen3.self
        case .phi3: Phi3.self
        }
    }
}

/// The activation of the gated feed-forward network: `down · (act(gate · x) ⊙ up · x)`.
public enum FeedForwardActivation: Sendable, Equatable {
    /// SwiGLU (Llama, Qwen).
    case silu
    /// GeGLU with the tanh-approximated GELU (Gemma).
    case geluTanh
}

/// How rotary position embeddings pair the elements of a head.
public enum RotaryLayout: Sendable, Equatable {
    /// Pairs (2i, 2i+1): llama.cpp's LLAMA_ROPE_TYPE_NORM.
    case adjacent
    /// Pairs (i, i + d/2): llama.cpp's LLAMA_ROPE_TYPE_NEOX.
    case halves
}

/// Hyperparameters of a decoder-only transformer, read from GGUF metadata (`<arch>.*` keys).
public struct TransformerConfiguration: Sendable, Equatable {
    public var architecture: ModelArchitecture
    /// Tokens in the vocabulary (rows of the embedding table).
    public var vocabularySize: Int
    /// The longest sequence the model was trained for (`context_length`).
    public var contextLength: Int
    /// Width of the residual stream (`embedding_length`).
    public var embeddingLength: Int
    /// Number of transformer blocks (`block_count`).
    public var blockCount: Int
    /// Inner width of the feed-forward network (`feed_forward_length`).
    public var feedForwardLength: Int
    /// Query heads (`attention.head_count`).
    public var headCount: Int
    /// Key/value heads (`attention.head_count_kv`, defaults to `headCount`).
    public var kvHeadCount: Int
    /// Elements per head (`attention.key_length`, defaults to width / heads).
    public var headDimension: Int
    /// Rotated elements per head (`rope.dimension_count`, defaults to `headDimension`).
    public var ropeDimensionCount: Int
    /// RoPE base frequency (`rope.freq_base`, default 10000).
    public var ropeFrequencyBase: Float
    /// Linear RoPE position scaling: positions are multiplied by this (1 / `rope.scaling.factor`).
    public var ropeFrequencyScale: Float
    public var ropeLayout: RotaryLayout
    /// The context the model was trained for before its RoPE was extended
    /// (`rope.scaling.original_context_length`, default `contextLength`): LongRoPE takes its long
    /// factors when the context in force exceeds it.
    public var ropeOriginalContextLength = 0
    /// Multiplier of RoPE's cosines and sines (`rope.scaling.attn_factor`, default 1: LongRoPE's
    /// attention factor).
    public var ropeAttentionFactor: Float = 1
    /// YaRN RoPE scaling (`rope.scaling.type` yarn): the angles of the low-frequency pairs are
    /// interpolated by `ropeFrequencyScale`, those of the high-frequency ones kept, over the
    /// correction range of `ropeOriginalContextLength`. llama.cpp reads none of the `yarn_*` keys
    /// for these architectures: extrapolation factor 1, beta fast 32 and slow 1.
    public var ropeYarn = false
    /// RMSNorm epsilon (`attention.layer_norm_rms_epsilon`).
    public var rmsNormEpsilon: Float
    /// Multiplier of `q·k` in attention (1/√headDimension unless the architecture says otherwise).
    public var attentionScale: Float
    /// Whether the queries are multiplied by `attentionScale` before attention (Gemma, as
    /// llama.cpp's graph does, so that the half-rounded queries are the scaled ones) instead of
    /// the scores in it.
    public var scalesQueries = false
    /// Multiplier of the embedding rows (√width for Gemma, else 1).
    public var embeddingScale: Float = 1
    public var feedForwardActivation: FeedForwardActivation = .silu
    /// Keys a sliding-window layer sees: positions `p − slidingWindow + 1 … p` (0: no window).
    public var slidingWindow = 0
    /// Per layer: whether it attends within `slidingWindow` only (empty: no such layer).
    public var slidingWindowLayers: [Bool] = []
    /// RoPE base and linear scale of the sliding-window layers (Gemma 3's local layers).
    public var slidingWindowRopeFrequencyBase: Float = 10_000
    public var slidingWindowRopeFrequencyScale: Float = 1
    /// Logits become `c · tanh(logits / c)` when set (`final_logit_softcapping`).
    public var finalLogitSoftcap: Float?

    /// Query width: `headCount × headDimension`.
    public var queryWidth: Int { headCount * headDimension }
    /// Key (and value) width per token: `kvHeadCount × headDimension`.
    public var keyValueWidth: Int { kvHeadCount * headDimension }

    /// Whether layer `index` attends within the sliding window.
    public func isSlidingWindow(layer index: Int) -> Bool {
        slidingWindow > 0 && index < slidingWindowLayers.count && slidingWindowLayers[index]
    }

    /// Reads and checks the hyperparameters of `file`.
    public init(file: GGUFFile) throws {
        guard let name = file.string("general.architecture") else {
            throw ModelError.missingMetadata(key: "general.architecture")
        }
        guard let architecture = ModelArchitecture(rawValue: name) else {
            throw ModelError.unsupportedArchitecture(name)
        }
        self.architecture = architecture
        let prefix = name + "."
        func required(_ key: String) throws -> Int {
            guard let value = file.int(prefix + key) else { throw ModelError.missingMetadata(key: prefix + key) }
            guard value > 0, value <= 1 << 24 else {
                throw ModelError.invalidMetadata(key: prefix + key, reason: "\(value) is not in 1…\(1 << 24)")
            }
            return value
        }
        contextLength = try required("context_length")
        embeddingLength = try required("embedding_length")
        blockCount = try required("block_count")
        feedForwardLength = try required("feed_forward_length")
        headCount = try required("attention.head_count")
        kvHeadCount = file.int(prefix + "attention.head_count_kv") ?? headCount
        guard kvHeadCount > 0, headCount % kvHeadCount == 0 else {
            throw ModelError.invalidMetadata(
                key: prefix + "attention.head_count_kv",
                reason: "\(kvHeadCount) does not divide \(headCount) query heads")
        }
        if let keyLength = file.int(prefix + "attention.key_length") {
            headDimension = keyLength
        } else {
            guard embeddingLength % headCount == 0 else {
                throw ModelError.invalidMetadata(
                    key: prefix + "attention.head_count",
                    reason: "\(headCount) heads do not divide width \(embeddingLength)")
            }
            headDimension = embeddingLength / headCount
        }
        if let valueLength = file.int(prefix + "attention.value_length"), valueLength != headDimension {
            throw ModelError.invalidMetadata(
                key: prefix + "attention.value_length",
                reason: "\(valueLength) differs from the key length \(headDimension)")
        }
        guard headDimension > 0, headDimension <= 1024, headDimension % 2 == 0 else {
            throw ModelError.invalidMetadata(
                key: prefix + "attention.key_length",
                reason: "head dimension \(headDimension) must be even and in 2…1024")
        }
        ropeDimensionCount = file.int(prefix + "rope.dimension_count") ?? headDimension
        guard ropeDimensionCount > 0, ropeDimensionCount <= headDimension, ropeDimensionCount % 2 == 0 else {
            throw ModelError.invalidMetadata(
                key: prefix + "rope.dimension_count",
                reason: "\(ropeDimensionCount) must be even and at most \(headDimension)")
        }
        ropeFrequencyBase = file.float(prefix + "rope.freq_base") ?? 10_000
        guard ropeFrequencyBase.isFinite, ropeFrequencyBase > 1 else {
            throw ModelError.invalidMetadata(key: prefix + "rope.freq_base", reason: "\(ropeFrequencyBase) must be > 1")
        }
        ropeFrequencyScale = try Self.ropeScale(file: file, prefix: prefix)
        ropeOriginalContextLength = file.int(prefix + "rope.scaling.original_context_length") ?? contextLength
        guard ropeOriginalContextLength > 0, ropeOriginalContextLength <= 1 << 24 else {
            throw ModelError.invalidMetadata(
                key: prefix + "rope.scaling.original_context_length",
                reason: "\(ropeOriginalContextLength) is not in 1…\(1 << 24)")
        }
        ropeAttentionFactor = try Self.positiveFloat(file, prefix + "rope.scaling.attn_factor", default: 1)
        ropeYarn = file.string(prefix + "rope.scaling.type") == "yarn"
        ropeLayout = .adjacent
        attentionScale = 1 / Float(headDimension).squareRoot()
        rmsNormEpsilon = file.float(prefix + "attention.layer_norm_rms_epsilon") ?? 1e-5
        guard rmsNormEpsilon.isFinite, rmsNormEpsilon > 0, rmsNormEpsilon < 1 else {
            throw ModelError.invalidMetadata(
                key: prefix + "attention.layer_norm_rms_epsilon",
                reason: "\(rmsNormEpsilon) must be in (0, 1)")
        }
        if let declared = file.int(prefix + "vocab_size") {
            vocabularySize = declared
        } else if let embedding = file.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 {
            vocabularySize = embedding.dimensions[1]
        } else {
            throw ModelError.missingMetadata(key: prefix + "vocab_size")
        }
        guard vocabularySize > 0, vocabularySize < Int(Int32.max) else {
            throw ModelError.invalidMetadata(key: prefix + "vocab_size", reason: "\(vocabularySize) is out of range")
        }
        try architecture.definition.configure(&self, file: file)
    }

    /// A positive float at `key`, or `fallback` when absent.
    static func positiveFloat(_ file: GGUFFile, _ key: String, default fallback: Float) throws -> Float {
        guard let value = file.float(key) else { return fallback }
        guard value.isFinite, value > 0 else {
            throw ModelError.invalidMetadata(key: key, reason: "\(value) must be a positive number")
        }
        return value
    }
}
