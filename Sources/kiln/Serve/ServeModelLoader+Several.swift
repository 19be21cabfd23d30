import Foundation
import KilnAPI
import KilnExecutors
import KilnServe
import Logging

/// A loaded language model among several: its text service and the scheduler that owns its
/// engine (each model has its own, so that unloading one stops its thread and frees its KV cache).
final class ServedTextModel: Sendable {
    let service: TextGenerationService
    let scheduler: Scheduler

    init(service: TextGenerationService, scheduler: Scheduler) {
        self.service = service
        self.scheduler = scheduler
    }
}

extension ServeModelLoader {
    /// Several language models: each loads with a scheduler of its own, under `memory_budget_mb`
    /// (``ModelResidency``); the image and embedding models share one more scheduler. Those load
    /// first and stay, their bytes pinned in the budget; then the language models that fit beside
    /// them load, in order.
    func loadSeveral(_ models: [ConfiguredTextModel], logger: Logger, metrics: OpsMetrics) throws -> Loaded {
        guard settings.textModelPooling == "none" else {
            throw ValidationErrorMessage("text_model_pooling needs a single language model; \(models.count) are configured")
        }
        let (kvBlocks, kvBlockSize) = (settings.kvBlocks, settings.kvBlockSize)
        let cost: (ConfiguredTextModel) throws -> Int = { try $0.costBytes(kvBlocks: kvBlocks, kvBlockSize: kvBlockSize) }
        // The folder as it is now, for the reloads to come (read before the costs, so that a file
        // replaced meanwhile counts as changed at the first reload).
        let initialFolder = settings.modelsDir.isEmpty ? nil : try? ModelFolder.scan(settings.modelsDir)
        var costs: [(id: String, costBytes: Int)] = []
        for model in models {
            do {
                costs.append((model.id, try cost(model)))
            } catch {
                throw ModelLoadError(kind: "language", path: model.path, underlying: error)
            }
        }
        let side = try loadSideScheduler(metrics: metrics, logger: logger)
        let ledger = try ResidencyLedger(models: costs, budgetBytes: settings.memoryBudgetMB << 20, pinned: side.pinned)
        let catalog = TextModelCatalog(models)
        let exporters = SchedulerExporters(metrics: metrics)
        // Serialises scrapes with the last refresh of an unloaded model's scheduler, so that a
        // scrape never reads a scheduler after its exporter has moved on from it.
        let scrape = NSLock()
        let residencyMetrics = ModelResidencyMetrics(
            registry: metrics.registry, modelIDs: ledger.modelIDs, budgetBytes: ledger.budgetBytes, pinned: ledger.pinned)
        let residency = ModelResidency<ServedTextModel>(
            ledger: ledger,
            load: { id in
                guard let model = catalog[id] else { throw ValidationErrorMessage("no file for the model '\(id)'") }
                let engine = try loadTextEngine(model)
                let scheduler = try Scheduler(settings: schedulerSettings, executor: engine.executor, observer: exporters[id].observer)
                scheduler.start()
                return ServedTextModel(service: makeTextService(engine, scheduler: scheduler, logger: logger), scheduler: scheduler)
            },
            unload: { id, served in
                served.scheduler.stop()
                // Its final figures (the thread has ended), then counting goes on from them:
                // the next scheduler of this model counts from zero.
                scrape.withLock {
                    exporters[id].refresh(from: served.scheduler.metrics())
                    exporters[id].schedulerReplaced()
                }
            },
            isIdle: { $0.scheduler.metrics().unfinishedJobs == 0 },
            onChange: { change in
                residencyMetrics.record(change)
                switch change {
                case let .loaded(model, seconds):
                    logger.info("model resident", metadata: ["model": .string(model), "seconds": .string(String(format: "%.2f", seconds))])
                case let .unloaded(model, seconds):
                    logger.info(
                        "model unloaded to make room", metadata: ["model": .string(model), "seconds": .string(String(format: "%.2f", seconds))])
                case let .unloadedOutdated(model, seconds):
                    logger.info(
                        "model unloaded once idle: its file was removed or changed",
                        metadata: ["model": .string(model), "seconds": .string(String(format: "%.2f", seconds))])
                case let .loadFailed(model, reason):
                    logger.error("model failed to load", metadata: ["model": .string(model), "error": .string(reason)])
                }
            })
        try residency.loadInitialModels()
        residency.start()
        logger.info(
            "language models",
            metadata: [
                "models": .string(ledger.modelIDs.joined(separator: ", ")),
                "loaded": .string(residency.loadedResidents().map(\.id).joined(separator: ", ")),
                "budget_mib": .stringConvertible(settings.memoryBudgetMB),
                "costs_mib": .string(costs.map { "\($0.id)=\($0.costBytes >> 20)" }.joined(separator: ", ")),
                "pinned_mib": .string(ledger.pinned.map { "\($0.id)=\($0.costBytes >> 20)" }.joined(separator: ", ")),
                "resident_mib": .stringConvertible(residency.snapshot().residentBytes >> 20),
            ])
        metrics.addRefresh {
            residencyMetrics.refresh(from: residency.snapshot())
            scrape.withLock {
                for (id, served) in residency.loadedResidents() { exporters[id].refresh(from: served.scheduler.metrics()) }
            }
        }

        let folderReload = initialFolder.map { initial in
            let fixedIDs = Set(settings.model.map { ConfiguredTextModel.parse($0).id })
            let listed = Set(models.map(\.id)).subtracting(fixedIDs)
            return ModelFolderReload(
                directory: settings.modelsDir, initial: ModelFolder(files: initial.files.filter { listed.contains($0.key) }),
                fixedIDs: fixedIDs, catalog: catalog, residency: residency, metrics: residencyMetrics, logger: logger, cost: cost)
        }

        var reloadModels: (@Sendable () -> Void)?
        if let folderReload { reloadModels = { folderReload.reload() } }

        let timeout: Duration? = settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil
        return Loaded(
            text: ResidentTextModels(residency: residency, loadTimeout: timeout) { $0.service },
            images: side.images, embeddings: side.embeddings,
            stop: {
                residency.stop()
                for (_, served) in residency.loadedResidents() { served.scheduler.stop() }
                side.scheduler?.stop()
            }, reloadModels: reloadModels)
    }

    /// The image and embedding models beside several language models, on a scheduler of their
    /// own (no text job ever reaches it), its series labelled with their ids; and what each takes
    /// (``ModelFootprint``), which the budget counts.
    private func loadSideScheduler(
        metrics: OpsMetrics, logger: Logger
    ) throws -> (
        scheduler: Scheduler?, images: ImageGenerationService?, embeddings: EmbeddingService?, pinned: [ResidencyLedger.PinnedModel]
    ) {
        let image = try loadImageModels(logger: logger)
        let embedding = try loadEmbeddingModels(logger: logger)
        let embeddingModels = embedding.models
        var pinned: [ResidencyLedger.PinnedModel] = []
        if image != nil {  // the image model, the GAN and the hybrid, each with its folder
            let paths = [settings.imageModel, settings.ganModel, settings.hybridModel].filter { !$0.isEmpty }
            for (id, path) in zip(Self.imageModelIDs(settings), paths) {
                pinned.append(.init(id: id, costBytes: ModelFootprint.bytes(atPath: path)))
            }
        }
        if let path = embedding.path, let model = embeddingModels.first {
            pinned.append(.init(id: model.model.id, costBytes: ModelFootprint.bytes(atPath: path)))
        }
        guard image != nil || !embeddingModels.isEmpty else { return (nil, nil, nil, pinned) }
        let names = ((image?.models.map(\.id) ?? []) + embeddingModels.map(\.model.id)).joined(separator: ",")
        let exporter = SchedulerMetricsExporter(registry: metrics.registry, labels: [("model_name", names)])
        let scheduler = try Scheduler(
            settings: schedulerSettings, executor: NoTextExecutor(),
            imageExecutor: image.map(\.executor),
            embeddingExecutor: encoderExecutor(embeddingModels), observer: exporter.observer)
        metrics.addRefresh { exporter.refresh(from: scheduler.metrics()) }
        scheduler.start()
        return (scheduler, imageService(image, scheduler: scheduler), embeddingService(embeddingModels, scheduler: scheduler), pinned)
    }
}

/// The scheduler metrics of each language model, labelled with its id, made when a model is
/// first seen (a reload may add models).
// @unchecked Sendable: `exporters` changes only under `lock`.
private final class SchedulerExporters: @unchecked Sendable {
    private let metrics: OpsMetrics
    private let lock = NSLock()
    private var exporters: [String: SchedulerMetricsExporter] = [:]

    init(metrics: OpsMetrics) { self.metrics = metrics }

    subscript(id: String) -> SchedulerMetricsExporter {
        lock.withLock {
            if let exporter = exporters[id] { return exporter }
            let exporter = SchedulerMetricsExporter(registry: metrics.registry, labels: [("model_name", id)])
            exporters[id] = exporter
            return exporter
        }
    }
}

/// The text engine of the image and embedding scheduler: there is none, and no text job is
/// ever submitted to it (the text API submits to each language model's own scheduler).
private final class NoTextExecutor: BatchExecutor {
    struct NoLanguageModel: Error, CustomStringConvertible {
        var description: String { "this scheduler serves images and embeddings only" }
    }

    func execute(_ batch: ExecutorBatch) throws -> [ExecutorOutput] { throw NoLanguageModel() }
}
