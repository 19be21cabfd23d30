import KilnFormats

/// The hyperparameters that several architectures read the same way, with llama.cpp's keys and
/// defaults (`src/llama-model.cpp`, `load_hparams`).
extension TransformerConfiguration {
    /// The linear RoPE position scale (1 / factor) of `rope.scaling.type` and
    /// `rope.scaling.factor` (or the older `rope.scale_linear`), as llama.cpp reads them: an
    /// absent type is `linear`, `none` never scales, `longrope` scales by its factor when one is
    /// given (its per-pair factors are tensors). Llama 3's scaling needs no key: its converter
    /// writes it as the `rope_freqs` tensor. YaRN and unknown schemes are refused, since running
    /// them without their arithmetic would give wrong results silently.
    static func ropeScale(file: GGUFFile, prefix: String) throws -> Float {
        let typeKey = prefix + "rope.scaling.type"
        let type = file.string(typeKey) ?? "linear"
        let factor = file.float(prefix + "rope.scaling.factor") ?? file.float(prefix + "rope.scale_linear") ?? 0
        switch type {
        case "none":
            return 1
        case "linear", "longrope":
            // llama.cpp: a factor of 0 (or none) means no scaling.
            guard factor != 0 else { return 1 }
            guard factor.isFinite, factor > 0 else {
                throw ModelError.invalidMetadata(key: prefix + "rope.scaling.factor", reason: "\(factor) must be > 0")
            }
            return 1 / factor
        default:
            throw ModelError.invalidMetadata(
                key: typeKey, reason: "RoPE scaling '\(type)' is not supported (none, linear, longrope)")
        }
    }
}
