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
    /// (``ModelResidency``); the image and embedding models share one more scheduler. Loads at
    /// once what fits, in order.
    func loadSeveral(_ models: [ConfiguredTextModel], logger: Logger, metrics: OpsMetrics) throws -> Loaded {
        guard settings.textModelPooling == "none" else {
            throw ValidationErrorMessage("text_model_pooling needs a single language model; \(models.count) are configured")
        }
        var costs: [(id: String, costBytes: Int)] = []
        for model in models {
            do {
                costs.append((model.id, try model.costBytes(kvBlocks: settings.kvBlocks, kvBlockSize: settings.kvBlockSize)))
            } catch {
                throw ModelLoadError(kind: "language", path: model.path, underlying: error)
            }
        }
        let ledger = try ResidencyLedger(models: costs, budgetBytes: settings.memoryBudgetMB << 20)
        let paths = Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0) })
        let exporters = Dictionary(
            uniqueKeysWithValues: models.map { ($0.id, SchedulerMetricsExporter(registry: metrics.registry, labels: [("model_name", $0.id)])) })
        // Serialises scrapes with the last refresh of an unloaded model's scheduler, so that a
        // scrape never reads a scheduler after its exporter has moved on from it.
        let scrape = NSLock()
        let residencyMetrics = ModelResidencyMetrics(registry: metrics.registry, modelIDs: ledger.modelIDs, budgetBytes: ledger.budgetBytes)
        let residency = ModelResidency<ServedTextModel>(
            ledger: ledger,
            load: { id in
                let engine = try loadTextEngine(paths[id]!)
                let scheduler = try Scheduler(settings: schedulerSettings, executor: engine.executor, observer: exporters[id]!.observer)
                scheduler.start()
                return ServedTextModel(service: makeTextService(engine, scheduler: scheduler, logger: logger), scheduler: scheduler)
            },
            unload: { id, served in
                served.scheduler.stop()
                // Its final figures (the thread has ended), then counting goes on from them:
                // the next scheduler of this model counts from zero.
                scrape.withLock {
                    exporters[id]!.refresh(from: served.scheduler.metrics())
                    exporters[id]!.schedulerReplaced()
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
            ])
        metrics.addRefresh {
            residencyMetrics.refresh(from: residency.snapshot())
            scrape.withLock {
                for (id, served) in residency.loadedResidents() { exporters[id]?.refresh(from: served.scheduler.metrics()) }
            }
        }

        let side = try loadSideScheduler(metrics: metrics, logger: logger)
        let timeout: Duration? = settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil
        return Loaded(
            text: ResidentTextModels(residency: residency, loadTimeout: timeout) { $0.service },
            images: side.images, embeddings: side.embeddings,
            stop: {
                residency.stop()
                for (_, served) in residency.loadedResidents() { served.scheduler.stop() }
                side.scheduler?.stop()
            })
    }

    /// The image and embedding models beside several language models, on a scheduler of their
    /// own (no text job ever reaches it), its series labelled with their ids.
    private func loadSideScheduler(
        metrics: OpsMetrics, logger: Logger
    ) throws -> (scheduler: Scheduler?, images: ImageGenerationService?, embeddings: EmbeddingService?) {
        let image = try loadImageModels(logger: logger)
        let embeddingModels = try loadEmbeddingModels(logger: logger).models
        guard image != nil || !embeddingModels.isEmpty else { return (nil, nil, nil) }
        let names = ((image?.models.map(\.id) ?? []) + embeddingModels.map(\.model.id)).joined(separator: ",")
        let exporter = SchedulerMetricsExporter(registry: metrics.registry, labels: [("model_name", names)])
        let scheduler = try Scheduler(
            settings: schedulerSettings, executor: NoTextExecutor(),
            imageExecutor: image.map(\.executor),
            embeddingExecutor: encoderExecutor(embeddingModels), observer: exporter.observer)
        metrics.addRefresh { exporter.refresh(from: scheduler.metrics()) }
        scheduler.start()
        return (scheduler, imageService(image, scheduler: scheduler), embeddingService(embeddingModels, scheduler: scheduler))
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
