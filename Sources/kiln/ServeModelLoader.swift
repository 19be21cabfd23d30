import Foundation
import KilnAPI
import KilnFormats
import KilnServe
import KilnText
import Logging

/// Loads the language model for `kiln serve` and builds what serves it: the tokenizer, the chat
/// template, the engine and the batching scheduler.
struct ServeModelLoader {
    let settings: ServeSettings

    var schedulerSettings: SchedulerSettings {
        var scheduler = SchedulerSettings()
        scheduler.maxQueuedJobs = settings.queueCapacity
        scheduler.maxBatchSequences = settings.maxBatchSequences
        scheduler.tokenBudgetPerIteration = settings.maxBatchTokens
        scheduler.kvBlockCount = settings.kvBlocks
        scheduler.kvBlockSize = settings.kvBlockSize
        return scheduler
    }

    /// Loads everything; throws with a message fit for the log.
    func load(logger: Logger, observer: SchedulerObserver? = nil) throws -> (service: TextGenerationService, scheduler: Scheduler) {
        let started = Date()
        let path = try DefaultModel.resolve(settings.model)
        let file = try GGUFFile(path: path)
        let tokenizer = try Tokenizer(gguf: file)
        let options = ModelOptions(
            threadCount: settings.threads > 0 ? settings.threads : ProcessInfo.processInfo.activeProcessorCount,
            maximumBatchTokens: settings.maxBatchTokens, maximumLogitRows: settings.maxBatchSequences,
            contextLength: settings.contextLength > 0 ? settings.contextLength : nil)
        let model = try TransformerModel(file: file, options: options)
        let template = try file.string("tokenizer.chat_template").map { try ChatTemplate(source: $0) }
        let schedulerSettings = self.schedulerSettings
        let executor = try TransformerExecutor(model: model, settings: schedulerSettings)
        let scheduler = try Scheduler(settings: schedulerSettings, executor: executor, observer: observer)

        var apiSettings = TextGenerationService.Settings()
        apiSettings.generation.maxN = settings.maxN
        apiSettings.defaultMaxTokens = settings.defaultMaxTokens
        apiSettings.requestTimeout = settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil
        let name = settings.modelName.isEmpty
            ? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent : settings.modelName
        let service = TextGenerationService(modelID: name, tokenizer: tokenizer, template: template,
                                            contextLength: model.contextLength, scheduler: scheduler,
                                            settings: apiSettings)
        logger.info("model loaded", metadata: [
            "model": .string(name), "path": .string(path), "summary": .string(model.summary.description),
            "context": .stringConvertible(model.contextLength),
            "kv_tokens": .stringConvertible(schedulerSettings.kvCapacityTokens),
            "seconds": .string(String(format: "%.2f", Date().timeIntervalSince(started))),
        ])
        return (service, scheduler)
    }
}

/// A value set once from one thread and read from many.
final class ServiceSlot<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    var value: Value? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
