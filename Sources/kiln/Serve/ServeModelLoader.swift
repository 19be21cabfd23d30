import Foundation
import KilnAPI
import KilnExecutors
import KilnFormats
import KilnImage
import KilnServe
import KilnTemplate
import KilnTensor
import KilnText
import KilnTokenizer
import Logging

/// Loads the models of `kiln serve` and builds what serves them: for a language model the
/// tokenizer, the chat template, the engine and the batching scheduler (several language models:
/// `ServeModelLoader+Several.swift`), and the image and embedding models beside it.
struct ServeModelLoader {
    let settings: ServeSettings

    var schedulerSettings: SchedulerSettings {
        var scheduler = SchedulerSettings()
        scheduler.maxQueuedJobs = settings.queueCapacity
        scheduler.maxBatchSequences = settings.maxBatchSequences
        scheduler.tokenBudgetPerIteration = settings.maxBatchTokens
        scheduler.kvBlockCount = settings.kvBlocks
        scheduler.kvBlockSize = settings.kvBlockSize
        scheduler.maxImageBatch = settings.imageMaxBatch
        scheduler.maxRunningImages = settings.imageMaxRunning
        scheduler.imageStepsOverlapText = settings.imageOverlap
        scheduler.maxRunningEmbeddingJobs = settings.embeddingMaxRunning
        scheduler.embeddingPassTokens = settings.embeddingPassTokens
        scheduler.embeddingPassTokensBesideText = settings.embeddingPassTokensBesideText
        scheduler.embeddingRowsPerIteration = settings.embeddingRowsPerIteration
        scheduler.embeddingRowsPerIterationBesideText = settings.embeddingRowsPerIterationBesideText
        scheduler.computeSharing = ComputeSharing(rawValue: settings.computeSharing) ?? .textFirst
        scheduler.imageThreadsBesideText = settings.imageThreadsBesideText
        return scheduler
    }

    /// What `load` builds: the services, and the schedulers they submit to.
    struct Loaded {
        var text: TextModelDirectory
        var images: ImageGenerationService?
        var embeddings: EmbeddingService?
        /// Stops every scheduler (and the residency's thread, with several models).
        var stop: @Sendable () -> Void
        /// Rescans `models_dir` (SIGHUP); nil without one.
        var reloadModels: (@Sendable () -> Void)? = nil
    }

    /// Loads everything and starts the schedulers; throws with a message fit for the log.
    /// `metrics` gets the schedulers' series: unlabelled with one language model (as always),
    /// every series labelled `model_name` with several.
    func load(logger: Logger, metrics: OpsMetrics) throws -> Loaded {
        let models = try ConfiguredTextModel.resolve(settings)
        // A models folder may gain files on a reload, so it is served as several even with one.
        if models.count > 1 || !settings.modelsDir.isEmpty { return try loadSeveral(models, logger: logger, metrics: metrics) }
        let exporter = SchedulerMetricsExporter(registry: metrics.registry)
        let engine = try loadTextEngine(models[0])
        let image = try loadImageModels(logger: logger)
        // Embedding models: the sentence encoder, then the language model itself when it pools.
        let embedding = try loadEmbeddingModels(logger: logger)
        var embeddingModels = embedding.models
        let encoderKernels = embedding.kernels
        if let pooling = EmbeddingPooling(rawValue: settings.textModelPooling) {
            let decoder = try DecoderEmbedder(model: engine.model, pooling: pooling)
            embeddingModels.append(
                (
                    EmbeddingService.Model(
                        id: engine.id, tokenizer: engine.tokenizer, maxInputTokens: decoder.maxInputTokens,
                        dimensions: decoder.dimensions),
                    .decoder(decoder)
                ))
        }
        // Text-side kernels (the language model's, the encoder's) run on the scheduler thread, the
        // image pipeline's on the image lane: the scheduler shares the cores between the two.
        let threadBudget = WorkerPoolBudget(
            cores: ProcessInfo.processInfo.activeProcessorCount,
            text: [engine.model.pool] + (encoderKernels.map { [$0.pool] } ?? []),
            image: image.map { [$0.kernels.pool] } ?? [])
        let scheduler = try Scheduler(
            settings: schedulerSettings, executor: engine.executor,
            imageExecutor: image.map(\.executor),
            embeddingExecutor: encoderExecutor(embeddingModels), threadBudget: threadBudget, observer: exporter.observer)
        let service = makeTextService(engine, scheduler: scheduler, logger: logger)
        exporter.serve(model: engine.id)
        metrics.addRefresh { exporter.refresh(from: scheduler.metrics()) }
        scheduler.start()
        return Loaded(
            text: SingleTextModel(service: service), images: imageService(image, scheduler: scheduler),
            embeddings: embeddingService(embeddingModels, scheduler: scheduler), stop: { scheduler.stop() })
    }

    /// One language model's engine, before its scheduler: the weights, the tokenizer, the chat
    /// template and the executor with its KV cache.
    struct TextEngine {
        let id: String
        let path: String
        let started: Date
        let tokenizer: Tokenizer
        let template: ChatTemplate?
        let model: TransformerModel
        let executor: TransformerExecutor
    }

    func loadTextEngine(_ configured: ConfiguredTextModel) throws -> TextEngine {
        let started = Date()
        let file = try GGUFFile(path: configured.path)
        let tokenizer = try Tokenizer(gguf: file)
        let options = ModelOptions(
            threadCount: settings.threads > 0 ? settings.threads : ProcessInfo.processInfo.activeProcessorCount,
            maximumBatchTokens: settings.maxBatchTokens, maximumLogitRows: settings.maxBatchSequences,
            contextLength: settings.contextLength > 0 ? settings.contextLength : nil,
            // The scheduler chunks prompts by its token budget and by what else runs: a job's
            // tokens must not depend on that, nor on whether its prefix came from the cache.
            attentionSelection: .positionOnly)
        let model = try TransformerModel(file: file, options: options)
        let template = try file.string("tokenizer.chat_template").map { try ChatTemplate(source: $0) }
        let executor = try TransformerExecutor(model: model, settings: schedulerSettings)
        return TextEngine(
            id: configured.id, path: configured.path, started: started, tokenizer: tokenizer, template: template,
            model: model, executor: executor)
    }

    /// The text API over `engine`, submitting to `scheduler`; logs the load.
    func makeTextService(_ engine: TextEngine, scheduler: Scheduler, logger: Logger) -> TextGenerationService {
        var apiSettings = TextGenerationService.Settings()
        apiSettings.generation.maxN = settings.maxN
        apiSettings.defaultMaxTokens = settings.defaultMaxTokens
        apiSettings.requestTimeout = settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil
        apiSettings.grammarLimits.maxGrammarBytes = settings.grammarMaxBytes
        apiSettings.grammarLimits.maxSchemaNodes = settings.grammarMaxSchemaNodes
        apiSettings.grammarLimits.maxDepth = settings.grammarMaxDepth
        apiSettings.grammarLimits.maxCompiledElements = settings.grammarMaxCompiledElements
        apiSettings.grammarCacheBytes = settings.grammarCacheMB << 20
        let service = TextGenerationService(
            modelID: engine.id, tokenizer: engine.tokenizer, template: engine.template,
            contextLength: engine.model.contextLength, scheduler: scheduler,
            settings: apiSettings)
        logger.info(
            "model loaded",
            metadata: [
                "model": .string(engine.id), "path": .string(engine.path), "summary": .string(engine.model.summary.description),
                "context": .stringConvertible(engine.model.contextLength),
                "kv_tokens": .stringConvertible(schedulerSettings.kvCapacityTokens),
                "seconds": .string(String(format: "%.2f", Date().timeIntervalSince(engine.started))),
            ])
        return service
    }

    typealias EmbeddingModelPair = (model: EmbeddingService.Model, engine: EncoderExecutor.Model)

    /// The embedding model as the API and the executor see it, the kernels it runs on, and the
    /// file or folder it came from.
    func loadEmbeddingModels(logger: Logger) throws -> (models: [EmbeddingModelPair], kernels: KernelContext?, path: String?) {
        guard let embedding = try loadEmbeddingModel(logger: logger) else { return ([], nil, nil) }
        let model = EmbeddingService.Model(
            id: embedding.name, tokenizer: embedding.tokenizer, maxInputTokens: embedding.encoder.maxInputTokens,
            dimensions: embedding.encoder.dimensions)
        return ([(model, .encoder(embedding.encoder))], embedding.kernels, embedding.path)
    }

    func encoderExecutor(_ models: [EmbeddingModelPair]) -> EncoderExecutor? {
        models.isEmpty ? nil : EncoderExecutor(models: Dictionary(uniqueKeysWithValues: models.map { ($0.model.id, $0.engine) }))
    }

    func embeddingService(_ models: [EmbeddingModelPair], scheduler: Scheduler) -> EmbeddingService? {
        models.isEmpty ? nil : EmbeddingService(models: models.map(\.model), scheduler: scheduler, settings: embeddingServiceSettings)
    }

    func imageService(_ image: LoadedImageModels?, scheduler: Scheduler) -> ImageGenerationService? {
        image.map { ImageGenerationService(models: $0.models, scheduler: scheduler, settings: imageServiceSettings) }
    }

    var embeddingServiceSettings: EmbeddingService.Settings {
        var embedding = EmbeddingService.Settings()
        embedding.maxInputs = settings.embeddingMaxInputs
        embedding.maxRequestTokens = settings.embeddingMaxRequestTokens
        embedding.requestTimeout = settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil
        return embedding
    }

    /// The embedding model's id in the API (nil: none): `embedding_model_name`, else the folder's
    /// name or the GGUF file's without `.gguf`.
    static func embeddingModelID(_ settings: ServeSettings) -> String? {
        guard settings.embeddingModel != DefaultEmbeddingModel.disabled else { return nil }
        guard settings.embeddingModelName.isEmpty else { return settings.embeddingModelName }
        guard !settings.embeddingModel.isEmpty else { return DefaultEmbeddingModel.name }
        return EmbeddingModelLoading.modelID(path: settings.embeddingModel)
    }

    /// The encoder and tokenizer of `embedding_model` (nil for "none"). The default model is
    /// fetched once into the cache; when that fails the server goes on without embeddings (the
    /// endpoint answers 503) rather than without everything.
    func loadEmbeddingModel(
        logger: Logger
    ) throws -> (name: String, encoder: SentenceEncoder, tokenizer: Tokenizer, kernels: KernelContext, path: String)? {
        guard settings.embeddingModel != DefaultEmbeddingModel.disabled else { return nil }
        let started = Date()
        let directory: String
        if settings.embeddingModel.isEmpty {
            do {
                directory = try DefaultEmbeddingModel.fetchingPath()
            } catch {
                logger.error(
                    "cannot fetch the default embedding model; serving no embeddings",
                    metadata: ["model": .string(DefaultEmbeddingModel.name), "error": .string("\(error)")])
                return nil
            }
        } else {
            directory = settings.embeddingModel
        }
        let encoder: SentenceEncoder
        let tokenizer: Tokenizer
        let threads = settings.threads > 0 ? settings.threads : ProcessInfo.processInfo.activeProcessorCount
        let kernels = KernelContext(threads: threads)
        do {
            (encoder, tokenizer) = try EmbeddingModelLoading.load(path: directory, kernels: kernels)
        } catch {
            throw ModelLoadError(kind: "embedding", path: directory, underlying: error)
        }
        let name = Self.embeddingModelID(settings) ?? directory
        logger.info(
            "embedding model loaded",
            metadata: [
                "model": .string(name), "path": .string(directory), "dimensions": .stringConvertible(encoder.dimensions),
                "max_input_tokens": .stringConvertible(encoder.maxInputTokens), "pooling": .string(encoder.pooling.rawValue),
                "seconds": .string(String(format: "%.2f", Date().timeIntervalSince(started))),
            ])
        return (name, encoder, tokenizer, kernels, directory)
    }

    var imageServiceSettings: ImageGenerationService.Settings {
        var image = ImageGenerationService.Settings()
        image.request.maxN = settings.imageMaxN
        image.request.maxSide = settings.imageMaxSide
        image.request.maxSteps = settings.imageMaxSteps
        image.request.defaultSteps = settings.imageDefaultSteps
        image.request.defaultPreviewInterval = settings.imagePreviewInterval
        image.requestTimeout = settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil
        return image
    }

    /// The image model's id in the API (nil: no image model): `image_model_name`, else the folder's name.
    static func imageModelID(_ settings: ServeSettings) -> String? {
        guard !settings.imageModel.isEmpty else { return nil }
        guard settings.imageModelName.isEmpty else { return settings.imageModelName }
        return folderID(settings.imageModel)
    }

    /// The GAN's id in the API (nil: none): its folder's name.
    static func ganModelID(_ settings: ServeSettings) -> String? { folderID(settings.ganModel) }

    /// The hybrid's id in the API (nil: none): its folder's name.
    static func hybridModelID(_ settings: ServeSettings) -> String? { folderID(settings.hybridModel) }

    /// The id a model folder answers to: its name (nil for an empty path, no model).
    static func folderID(_ path: String) -> String? {
        path.isEmpty ? nil : URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
    }

    /// Every image model's id, the default one (a request that names none) first.
    static func imageModelIDs(_ settings: ServeSettings) -> [String] {
        [imageModelID(settings), ganModelID(settings), hybridModelID(settings)].compactMap { $0 }
    }

    /// The image models and the kernels they share (the image lane runs one step at a time).
    struct LoadedImageModels {
        var models: [(id: String, model: ServedImageModel)]
        var kernels: KernelContext
        var executor: DiffusionExecutor {
            DiffusionExecutor(pipelines: Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0.model.engine) }))
        }
    }

    /// The pipeline of `image_model`, the GAN of `gan_model` and the hybrid of `hybrid_model`, those
    /// that are set (nil: none).
    func loadImageModels(logger: Logger) throws -> LoadedImageModels? {
        let kinds = [
            ("image", settings.imageModel, Self.imageModelID(settings)), ("GAN", settings.ganModel, Self.ganModelID(settings)),
            ("hybrid", settings.hybridModel, Self.hybridModelID(settings)),
        ].compactMap { kind, path, id in id.map { (kind: kind, path: path, id: $0) } }
        guard !kinds.isEmpty else { return nil }
        for (index, entry) in kinds.enumerated() where kinds[..<index].contains(where: { $0.id == entry.id }) {
            throw ModelLoadError(kind: entry.kind, path: entry.path, underlying: DuplicateModelID(id: entry.id))
        }
        var limits = ImagePipelineLimits()
        limits.maxSide = settings.imageMaxSide
        limits.maxSteps = settings.imageMaxSteps
        let kernels = settings.imageKernels()
        var models: [(id: String, model: ServedImageModel)] = []
        for (kind, path, id) in kinds {
            let started = Date()
            let model: ServedImageModel
            do {
                switch kind {
                case "GAN": model = .gan(try GANPipeline(directory: path, limits: limits, kernels: kernels))
                case "hybrid": model = .hybrid(try MADFormerPipeline(directory: path, limits: limits, kernels: kernels))
                default: model = .diffusion(try ImagePipeline(directory: path, limits: limits, kernels: kernels))
                }
            } catch {
                throw ModelLoadError(kind: kind, path: path, underlying: error)
            }
            logger.info(
                "\(kind) model loaded",
                metadata: [
                    "model": .string(id), "path": .string(path), "native_size": .stringConvertible(model.nativeSize),
                    "seconds": .string(String(format: "%.2f", Date().timeIntervalSince(started))),
                ])
            models.append((id, model))
        }
        return LoadedImageModels(models: models, kernels: kernels)
    }
}

/// Two image models would answer to one id.
struct DuplicateModelID: Error, CustomStringConvertible {
    let id: String
    var description: String { "two image models (image_model, gan_model, hybrid_model) are both named '\(id)'" }
}

/// A model beside the language model could not be loaded: which kind, which folder, and why.
struct ModelLoadError: Error, CustomStringConvertible {
    let kind: String
    let path: String
    let underlying: Error
    var description: String { "cannot load the \(kind) model at \(path): \(underlying)" }
}

/// A value set once from one thread and read from many.
// @unchecked Sendable: `stored` is written once and read under `lock`; Value is shared only by reference
// to objects that are themselves thread-safe (the services and the scheduler).
final class ServiceSlot<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    var value: Value? {
        get {
            lock.lock()
            defer { lock.unlock() }
            return stored
        }
        set {
            lock.lock()
            stored = newValue
            lock.unlock()
        }
    }
}
