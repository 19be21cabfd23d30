import KilnFormats
import KilnLayers

/// What a GGUF file of llama.cpp's `bert` architecture says beyond the encoder's hyperparameters,
/// read as llama.cpp's server reads it: the pooling from `bert.pooling_type` (llama.cpp's enum: 1
/// mean, 2 CLS, 3 last token), Euclidean normalisation (the server's `--embd-normalize` default,
/// 2), and the model's positions as the input limit (the server takes inputs up to its context).
struct LlamaCppEncoderFile {
    var pooling: EmbeddingPooling
    let normalizes = true

    init(file: GGUFFile) throws {
        // A file without the key (its folder had no pooling module) is pooled by the mean, which
        // is what sentence-transformers does with a plain BERT folder (llama.cpp's server would
        // need `--pooling` to give sentence vectors at all).
        let type = file.int("bert.pooling_type") ?? 1
        switch type {
        case 1: pooling = .mean
        case 2: pooling = .cls
        case 3: pooling = .lastToken
        default:
            // 0 (none: a vector per token) and 4 (rank: a reranker's score) make no sentence vector.
            throw LayerError.invalidConfig("bert.pooling_type \(type) is not supported (1 mean, 2 cls, 3 last)")
        }
    }
}
