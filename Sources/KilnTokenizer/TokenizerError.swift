/// Why a tokenizer could not be built from a file's metadata, or why ids were rejected.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A required metadata key is absent or has the wrong type.
    case missingMetadata(key: String)
    /// `tokenizer.ggml.model` names a tokenizer Kiln does not implement.
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer Kiln does not implement.
    case unsupportedPreTokenizer(String)
    /// Metadata is present but inconsistent or beyond a limit.
    case invalidMetadata(String)
    /// A token id outside the vocabulary.
    case tokenOutOfRange(id: Int32, vocabularySize: Int)
    /// A tokenizer file (CLIP's `vocab.json`, say) is absent.
    case missingFile(String)
    /// A Hugging Face `tokenizer.json` uses a component Kiln does not implement: `part` is the
    /// JSON key (`model`, `normalizer`, `pre_tokenizer`, `post_processor`), `type` its type.
    case unsupportedTokenizerJSON(part: String, type: String)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "tokenizer metadata '\(key)' is missing or has the wrong type"
        case .unsupportedModel(let model):
            return "unsupported tokenizer model '\(model)' (supported: 'gpt2' byte-level BPE, 'llama' SentencePiece, 'bert' WordPiece, "
                + "'t5' unigram, 'gemma4' BPE over ▁-escaped UTF-8)"
        case .unsupportedPreTokenizer(let name):
            return "unsupported pre-tokenizer '\(name)' (supported: " + PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")
                + " and their llama.cpp aliases)"
        case .invalidMetadata(let message):
            return "invalid tokenizer metadata: \(message)"
        case .tokenOutOfRange(let id, let size):
            return "token id \(id) is outside the vocabulary (0..<\(size))"
        case .missingFile(let path):
            return "missing tokenizer file: \(path)"
        case .unsupportedTokenizerJSON(let part, let type):
            return "unsupported tokenizer.json \(part) '\(type)' (supported: model WordPiece, normalizer BertNormalizer, "
                + "pre_tokenizer BertPreTokenizer, post_processor TemplateProcessing or BertProcessing)"
        }
    }
}
