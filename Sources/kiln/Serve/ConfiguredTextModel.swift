import Foundation
import KilnFormats
import KilnServe
import KilnText

/// A language model `kiln serve` may serve: its id in the API and its GGUF file.
///
/// The list is fixed at start, from `model` (each a path, or `id=path`), the `.gguf` files of
/// `models_dir`, or else the default model. A request's `model` is only ever compared with these
/// ids: it never becomes a path.
struct ConfiguredTextModel: Equatable, Sendable {
    let id: String
    let path: String

    /// The models `settings` name, in order: `model` entries first, then `models_dir`'s files
    /// sorted by name; the default model when neither names any.
    static func resolve(_ settings: ServeSettings) throws -> [ConfiguredTextModel] {
        var models = settings.model.map(parse)
        if !settings.modelsDir.isEmpty {
            let found = try filesInDirectory(settings.modelsDir)
            guard !found.isEmpty else {
                throw ValidationErrorMessage("models_dir \(settings.modelsDir) holds no .gguf file")
            }
            models += found
        }
        if models.isEmpty { models = [ConfiguredTextModel(path: try DefaultModel.path())] }
        if !settings.modelName.isEmpty {
            guard models.count == 1 else {
                throw ValidationErrorMessage("model_name names a single model; with several, give each its id as id=path")
            }
            models[0] = ConfiguredTextModel(id: settings.modelName, path: models[0].path)
        }
        var seen = Set<String>()
        for model in models where !seen.insert(model.id).inserted {
            throw ValidationErrorMessage("two language models have the id '\(model.id)'; name one with id=path")
        }
        return models
    }

    init(id: String, path: String) {
        self.id = id
        self.path = path
    }

    /// A model named by its path: its id is the file name without `.gguf`.
    init(path: String) {
        self.init(id: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, path: path)
    }

    /// `id=path`, or a path alone. The part before the first `=` is an id only if it holds no
    /// `/` (so that a path with `=` in a folder's name still reads as a path).
    static func parse(_ argument: String) -> ConfiguredTextModel {
        if let equals = argument.firstIndex(of: "="), equals != argument.startIndex,
            !argument[..<equals].contains("/")
        {
            return ConfiguredTextModel(id: String(argument[..<equals]), path: String(argument[argument.index(after: equals)...]))
        }
        return ConfiguredTextModel(path: argument)
    }

    /// The `.gguf` files directly in `directory` (symbolic links followed; `ModelFolder`), sorted by name.
    static func filesInDirectory(_ directory: String) throws -> [ConfiguredTextModel] {
        let folder: ModelFolder
        do {
            folder = try ModelFolder.scan(directory)
        } catch {
            throw ValidationErrorMessage("cannot read models_dir \(directory): \(error.localizedDescription)")
        }
        return folder.ids.map { ConfiguredTextModel(id: $0, path: folder.files[$0]!.path) }
    }

    /// Bytes the model takes once loaded: its file (mapped, read as it is used) and a KV cache
    /// of `kvBlocks` blocks of `kvBlockSize` tokens (allocated whole when it loads). Reads only
    /// the file's header.
    func costBytes(kvBlocks: Int, kvBlockSize: Int) throws -> Int {
        let file = try GGUFFile(path: path)
        let configuration = try TransformerConfiguration(file: file)
        return file.fileSize + PagedKVCache.bytesPerBlock(configuration: configuration, blockSize: kvBlockSize) * kvBlocks
    }
}
