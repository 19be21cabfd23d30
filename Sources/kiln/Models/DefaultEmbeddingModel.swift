import Foundation

/// Where Kiln's default embedding model, all-MiniLM-L6-v2 (a sentence-transformers folder), lives
/// when no embedding model is named: `$KILN_DEFAULT_EMBEDDING_MODEL`, else the folder
/// `all-MiniLM-L6-v2` in the model cache (see `DefaultModel.cacheDirectory`), filled by
/// `Scripts/fetch-model.sh embedding` or ``fetchingPath()`` (``PinnedModel/embedding``: the zip's
/// and the weights' sha256 are checked before the folder reaches the cache).
enum DefaultEmbeddingModel {
    static let name = PinnedModel.embedding.entry
    /// The `embedding_model` value that turns the embedding endpoint off.
    static let disabled = "none"

    /// The default model's folder if it is in the cache (or named by the environment); nil otherwise.
    static func path() -> String? {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_EMBEDDING_MODEL"], !path.isEmpty { return path }
        let cached = DefaultModel.cacheDirectory + "/" + name
        return FileManager.default.fileExists(atPath: cached + "/model.safetensors") ? cached : nil
    }

    /// The default model's folder, fetched first (checksum-verified) if it is not in the cache.
    static func fetchingPath() throws -> String { try PinnedModel.embedding.path() }
}
