import Foundation
import KilnTensor

/// How activations meet quantized weights in the matrix products.
public enum ActivationPrecision: Sendable, Equatable {
    /// Activations quantized to 8 bits per block of 32 and multiplied with integer kernels, as
    /// llama.cpp does: fastest. With a half KV cache (the default) the whole forward pass then
    /// follows llama.cpp's CPU arithmetic (its attention bodies, RoPE angles, RMSNorm and SwiGLU
    /// rounding), so that for Q4_0/Q4_1/Q5_x/Q8_0 weights the logits reproduce llama.cpp's
    /// (2 threads, x86-64 AVX2) to ~1e-4 in log-probability.
    case int8
    /// Activations kept in 32-bit floats against weights dequantized in registers: no
    /// activation rounding (slower for prefill). Only Q4_1/Q8_0/float weights have such kernels;
    /// other types use the integer kernels either way.
    case float32
}

/// How the default (8-bit, half KV cache) path chooses among llama.cpp's attention bodies, which
/// round differently (see `LlamaCompatibleAttention`).
public enum AttentionSelection: Sendable, Equatable {
    /// As llama.cpp: by the shape of the sequence's step (a chunk of 64+ tokens takes the tiled
    /// body, a lone token past 256 cached positions the split one), so that a prompt fed whole
    /// gives llama.cpp's bits. A sequence's result then depends on how its prompt was chunked.
    case llamaCompatible
    /// By position alone: every token takes the half-accumulator body, with the key range split
    /// past 256 cached positions, whatever the step's shape. A sequence's result is then the same
    /// however its prompt is chunked, batched or taken from a prefix cache (what a server needs);
    /// decoding still follows llama.cpp's single-token arithmetic, a prompt of 64+ tokens fed
    /// whole does not.
    case positionOnly
}

/// Settings that size a loaded model's threads and per-step buffers.
public struct ModelOptions: Sendable, Equatable {
    /// Threads the kernels fan out to, the calling thread included.
    public var threadCount: Int
    /// The most tokens one forward step may carry (a prefill chunk plus the decoding sequences).
    public var maximumBatchTokens: Int
    /// The most rows of logits one step may produce (sequences asking for `.last` count one,
    /// `.all` counts every new token).
    public var maximumLogitRows: Int
    /// Caps the context below the model's trained length (nil: use the model's).
    public var contextLength: Int?
    /// How the matrix products treat activations.
    public var activationPrecision: ActivationPrecision
    /// How KV caches made by `TransformerModel.makeKVCache` store keys and values: halves (the
    /// default, as llama.cpp) or 32-bit floats.
    public var kvCacheType: KVElementType
    /// How the 8-bit path picks its attention arithmetic for a token.
    public var attentionSelection: AttentionSelection

    public init(
        threadCount: Int = ProcessInfo.processInfo.activeProcessorCount,
        maximumBatchTokens: Int = 512, maximumLogitRows: Int = 64, contextLength: Int? = nil,
        activationPrecision: ActivationPrecision = .int8, kvCacheType: KVElementType = .f16,
        attentionSelection: AttentionSelection = .llamaCompatible
    ) {
        self.threadCount = threadCount
        self.maximumBatchTokens = maximumBatchTokens
        self.maximumLogitRows = maximumLogitRows
        self.contextLength = contextLength
        self.activationPrecision = activationPrecision
        self.kvCacheType = kvCacheType
        self.attentionSelection = attentionSelection
    }

    /// Checks every setting; the error names the first one out of range.
    public func validate() throws {
        guard threadCount >= 1, threadCount <= 256 else {
            throw ModelError.invalidSetting(name: "threads", reason: "\(threadCount) is not in 1…256")
        }
        guard maximumBatchTokens >= 1, maximumBatchTokens <= 65_536 else {
            throw ModelError.invalidSetting(name: "max_batch_tokens", reason: "\(maximumBatchTokens) is not in 1…65536")
        }
        guard maximumLogitRows >= 1, maximumLogitRows <= 65_536 else {
            throw ModelError.invalidSetting(name: "max_logit_rows", reason: "\(maximumLogitRows) is not in 1…65536")
        }
        if let contextLength, contextLength < 1 {
            throw ModelError.invalidSetting(name: "context_length", reason: "\(contextLength) must be positive")
        }
    }
}

/// What was loaded, for the load report and `/v1/models`.
public struct ModelSummary: Sendable, Equatable {
    /// `general.name`, or the file name when absent.
    public var name: String
    public var architecture: ModelArchitecture
    public var fileByteCount: Int
    /// Elements of all tensors.
    public var parameterCount: Int
    /// Tensor element types and how many tensors use each, most used first (e.g. Q4_1 × 210).
    public var tensorTypes: [(type: String, count: Int)]
    public var outputIsTiedToEmbedding: Bool

    public static func == (a: ModelSummary, b: ModelSummary) -> Bool {
        a.name == b.name && a.architecture == b.architecture && a.fileByteCount == b.fileByteCount
            && a.parameterCount == b.parameterCount && a.outputIsTiedToEmbedding == b.outputIsTiedToEmbedding
            && a.tensorTypes.map(\.type) == b.tensorTypes.map(\.type) && a.tensorTypes.map(\.count) == b.tensorTypes.map(\.count)
    }

    /// One line, e.g. "llama · 134.5M parameters · 98.4 MB · Q4_1 ×210, F32 ×61, Q8_0 ×1".
    public var description: String {
        let parameters = String(format: "%.1fM", Double(parameterCount) / 1e6)
        let size = String(format: "%.1f MB", Double(fileByteCount) / 1e6)
        let types = tensorTypes.map { "\($0.type) ×\($0.count)" }.joined(separator: ", ")
        return "\(name): \(architecture.rawValue) · \(parameters) parameters · \(size) · \(types)"
            + (outputIsTiedToEmbedding ? " · tied output" : "")
    }
}
