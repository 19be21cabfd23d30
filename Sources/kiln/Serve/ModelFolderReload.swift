import Foundation
import KilnAPI
import KilnServe
import Logging

/// The language models a server with several may load: each id's file, fixed at start and
/// changed only by an explicit reload of the models folder. The residency's `load` looks the
/// file up here by id, so a request's `model` is never more than a key into this table.
// @unchecked Sendable: `models` changes only under `lock`.
final class TextModelCatalog: @unchecked Sendable {
    private let lock = NSLock()
    private var models: [String: ConfiguredTextModel]

    init(_ models: [ConfiguredTextModel]) {
        self.models = Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0) })
    }

    subscript(id: String) -> ConfiguredTextModel? { lock.withLock { models[id] } }

    func set(_ model: ConfiguredTextModel) { lock.withLock { models[model.id] = model } }
}

/// SIGHUP with `models_dir`: rescans the folder and tells the residency what changed. A new
/// file becomes available (it loads when a request names it); a removed one leaves `/v1/models`
/// at once and is unloaded once its requests in flight have finished; a changed one keeps
/// serving until idle, then loads again from the new file. Ids given by `model` entries are not
/// the folder's: a file of the folder with such an id is skipped, as at start.
// @unchecked Sendable: `folder` changes only under `lock` (one reload at a time).
final class ModelFolderReload: @unchecked Sendable {
    private let directory: String
    private let lock = NSLock()
    /// The folder's files as the residency knows them (a skipped file is not among them, so
    /// the next reload tries it again).
    private var folder: ModelFolder
    private let fixedIDs: Set<String>
    private let catalog: TextModelCatalog
    private let residency: ModelResidency<ServedTextModel>
    private let cost: (ConfiguredTextModel) throws -> Int
    private let metrics: ModelResidencyMetrics
    private let logger: Logger

    init(
        directory: String, initial: ModelFolder, fixedIDs: Set<String>, catalog: TextModelCatalog,
        residency: ModelResidency<ServedTextModel>, metrics: ModelResidencyMetrics, logger: Logger,
        cost: @escaping (ConfiguredTextModel) throws -> Int
    ) {
        self.directory = directory
        self.folder = initial
        self.fixedIDs = fixedIDs
        self.catalog = catalog
        self.residency = residency
        self.metrics = metrics
        self.logger = logger
        self.cost = cost
    }

    /// Rescans the folder and applies what changed; logs it and counts it in the metrics.
    func reload() {
        lock.withLock {
            let scan: ModelFolder
            do {
                scan = try ModelFolder.scan(directory)
            } catch {
                logger.error("models folder reload failed; keeping the models", metadata: ["dir": .string(directory), "error": .string("\(error)")])
                metrics.recordReload(nil, skipped: 0)
                return
            }
            let found = scan.changes(since: folder)
            var applied = ModelFolder.Changes(removed: found.removed)
            var skipped: [String] = []
            var files = folder.files
            for id in found.removed {
                residency.retire(id)
                files[id] = nil
            }
            for id in found.added + found.changed {
                let version = scan.files[id]!
                let model = ConfiguredTextModel(id: id, path: version.path)
                do {
                    if fixedIDs.contains(id) { throw ValidationErrorMessage("the id is taken by a model given with --model") }
                    let bytes = try cost(model)
                    catalog.set(model)
                    if found.added.contains(id) {
                        try residency.add(id, costBytes: bytes)
                        applied.added.append(id)
                    } else {
                        try residency.change(id, costBytes: bytes)
                        applied.changed.append(id)
                    }
                    files[id] = version
                } catch {
                    skipped.append(id)
                    logger.error(
                        "models folder reload: file skipped",
                        metadata: ["model": .string(id), "path": .string(version.path), "error": .string("\(error)")])
                }
            }
            folder = ModelFolder(files: files)
            metrics.recordReload(applied, skipped: skipped.count)
            logger.info(
                applied.isEmpty ? "models folder reloaded: nothing changed" : "models folder reloaded",
                metadata: [
                    "dir": .string(directory), "added": .string(applied.added.joined(separator: ", ")),
                    "removed": .string(applied.removed.joined(separator: ", ")), "changed": .string(applied.changed.joined(separator: ", ")),
                    "skipped": .string(skipped.joined(separator: ", ")), "models": .string(residency.modelIDs.joined(separator: ", ")),
                ])
        }
    }
}
