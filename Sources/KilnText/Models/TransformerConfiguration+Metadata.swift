import KilnFormats

/// The hyperparameters that several architectures read the same way, RoPE scaling and sliding
/// windows, with llama.cpp's keys and defaults (`src/llama-model.cpp`, `load_hparams`).
extension TransformerConfiguration {
    /// The linear RoPE position scale (1 / factor) of `rope.scaling.type` and
    /// `rope.scaling.factor` (or the older `rope.scale_linear`), as llama.cpp reads them: an
    /// absent type is `linear`, `none` never scales, `longrope` scales by its factor when one is
    /// given (its per-pair factors are tensors). Llama 3's scaling needs no key: its converter
    /// writes it as the `rope_freqs` tensor. `yarn` scales by its factor too (its per-pair mix and
    /// magnitude are ``TransformerConfiguration/ropeYarn``). Unknown schemes are refused, since
    /// running them without their arithmetic would give wrong results silently.
    static func ropeScale(file: GGUFFile, prefix: String) throws -> Float {
        let typeKey = prefix + "rope.scaling.type"
        let type = file.string(typeKey) ?? "linear"
        let factor = file.float(prefix + "rope.scaling.factor") ?? file.float(prefix + "rope.scale_linear") ?? 0
        switch type {
        case "none":
            return 1
        case "linear", "longrope", "yarn":
            // llama.cpp: a factor of 0 (or none) means no scaling.
            guard factor != 0 else { return 1 }
            guard factor.isFinite, factor > 0 else {
                throw ModelError.invalidMetadata(key: prefix + "rope.scaling.factor", reason: "\(factor) must be > 0")
            }
            return 1 / factor
        default:
            throw ModelError.invalidMetadata(
                key: typeKey, reason: "RoPE scaling '\(type)' is not supported (none, linear, longrope, yarn)")
        }
    }

    /// Reads `attention.sliding_window` and, when it is positive, which layers slide: one flag
    /// per layer or a period p whose layers `i % p < p − 1` slide (0: every layer), from
    /// `attention.sliding_window_pattern` (llama.cpp's `set_swa_pattern`), else `defaultPeriod`
    /// (nil: every layer, as Mistral). The sliding layers keep the global RoPE unless the caller
    /// sets theirs afterwards.
    mutating func readSlidingWindow(file: GGUFFile, defaultPeriod: Int?) throws {
        let prefix = architecture.rawValue + "."
        let windowKey = prefix + "attention.sliding_window"
        let window = file.int(windowKey) ?? 0
        guard window >= 0, window <= 1 << 24 else {
            throw ModelError.invalidMetadata(key: windowKey, reason: "\(window) is out of range")
        }
        guard window > 0 else { return }
        slidingWindow = window
        slidingWindowRopeFrequencyBase = ropeFrequencyBase
        slidingWindowRopeFrequencyScale = ropeFrequencyScale
        let key = prefix + "attention.sliding_window_pattern"
        if case .array(let values)? = file.metadata[key] {
            let flags = values.compactMap(\.boolValue)
            guard flags.count == values.count, flags.count == blockCount else {
                throw ModelError.invalidMetadata(key: key, reason: "expected \(blockCount) booleans, one per layer")
            }
            slidingWindowLayers = flags
            return
        }
        guard let period = file.int(key) ?? defaultPeriod else {
            slidingWindowLayers = Array(repeating: true, count: blockCount)
            return
        }
        // A period longer than the model slides every layer, as in llama.cpp (Gemma 3's default 6
        // on a model of fewer layers).
        guard period >= 0, period <= 1 << 24 else {
            throw ModelError.invalidMetadata(key: key, reason: "\(period) is out of range")
        }
        slidingWindowLayers = (0..<blockCount).map { period == 0 || $0 % period < period - 1 }
    }
}
