import Foundation
import KilnTensor
import KilnText
import KilnTokenizer

/// Loading an embedding model with its tokenizer, for `kiln serve` and `kiln embed`: a
/// sentence-transformers folder (its `tokenizer.json`) or a llama.cpp `bert` GGUF file (the
/// vocabulary in its metadata).
enum EmbeddingModelLoading {
    static func load(path: String, kernels: KernelContext) throws -> (encoder: SentenceEncoder, tokenizer: Tokenizer) {
        let encoder = try SentenceEncoder(path: path, kernels: kernels)
        let tokenizer: Tokenizer
        switch encoder.tokenizerSource {
        case .huggingFaceJSON(let path): tokenizer = try Tokenizer(huggingFaceJSONAt: path)
        case .gguf(let file): tokenizer = try Tokenizer(gguf: file)
        }
        return (encoder, tokenizer)
    }

    /// The model's id in the API: the folder's name, or the file's without `.gguf`.
    static func modelID(path: String) -> String {
        let name = URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        return name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
    }
}
