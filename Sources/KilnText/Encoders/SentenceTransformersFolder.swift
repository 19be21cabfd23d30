import Foundation
import KilnJSON
import KilnLayers

/// What a sentence-transformers folder says beyond the encoder's own config.json: which pooling
/// follows the encoder, whether a `Normalize` module follows that, and the input limit. A folder
/// without `modules.json` is a plain Hugging Face model: mean pooling, no normalisation.
struct SentenceTransformersFolder {
    var pooling = EmbeddingPooling.mean
    var normalizes = false
    var maxSequenceLength: Int?

    init(directory: String, width: Int) throws {
        let fileManager = FileManager.default
        let modulesPath = directory + "/modules.json"
        guard fileManager.fileExists(atPath: modulesPath) else { return }
        let modules = try Self.readArray(modulesPath)
        for module in modules {
            guard case .string(let type)? = module["type"] else {
                throw LayerError.invalidConfig("\(modulesPath): every module needs a type")
            }
            let path: String
            if case .string(let relative)? = module["path"], !relative.isEmpty { path = directory + "/" + relative } else { path = directory }
            switch type.split(separator: ".").last.map(String.init) ?? type {
            case "Transformer":
                let settings = path + "/sentence_bert_config.json"
                if fileManager.fileExists(atPath: settings) {
                    let config = try ComponentConfig(path: settings)
                    if config.has("max_seq_length") { maxSequenceLength = try config.int("max_seq_length", range: 1...1_000_000) }
                }
            case "Pooling":
                pooling = try Self.pooling(configAt: path + "/config.json", width: width)
            case "Normalize":
                normalizes = true
            default:
                throw LayerError.invalidConfig("\(modulesPath): module type \(type) is not supported (Transformer, Pooling, Normalize)")
            }
        }
    }

    private static func pooling(configAt path: String, width: Int) throws -> EmbeddingPooling {
        let config = try ComponentConfig(path: path)
        let dimension = try config.int("word_embedding_dimension", default: width, range: 1...1_000_000)
        guard dimension == width else {
            throw LayerError.invalidConfig("\(path): word_embedding_dimension \(dimension) differs from the model's width \(width)")
        }
        let modes: [(String, EmbeddingPooling?)] = [
            ("pooling_mode_mean_tokens", .mean), ("pooling_mode_cls_token", .cls), ("pooling_mode_lasttoken", .lastToken),
            ("pooling_mode_max_tokens", nil), ("pooling_mode_mean_sqrt_len_tokens", nil), ("pooling_mode_weightedmean_tokens", nil),
        ]
        var chosen: [String] = []
        var pooling: EmbeddingPooling?
        for (key, mode) in modes where try config.bool(key, default: false) {
            chosen.append(key)
            pooling = mode
        }
        guard chosen.count == 1, let pooling else {
            let names = chosen.isEmpty ? "none" : chosen.joined(separator: ", ")
            throw LayerError.invalidConfig("\(path): one pooling mode of mean, cls or last token is supported; the folder sets \(names)")
        }
        return pooling
    }

    private static func readArray(_ path: String) throws -> [JSONValue] {
        guard let data = FileManager.default.contents(atPath: path), data.count <= ComponentConfig.maxBytes else {
            throw LayerError.missingFile(path)
        }
        do {
            guard case .array(let items) = try JSONParser().parse([UInt8](data)) else {
                throw LayerError.invalidConfig("\(path) is not a JSON array")
            }
            return items
        } catch let error as LayerError {
            throw error
        } catch {
            throw LayerError.invalidConfig("\(path): \(error)")
        }
    }
}
