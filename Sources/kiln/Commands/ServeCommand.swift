import ArgumentParser
import Foundation

private func help(_ key: String) -> ArgumentHelp {
    ArgumentHelp(ConfigCatalogue.setting(key).helpText)
}

/// `kiln serve`: the HTTP server with the OpenAI-compatible API over the loaded models, and the
/// ops endpoints.
///
/// Every setting can come from the config file (`--config`, or `KILN_CONFIG`), a `KILN_…`
/// environment variable or a flag, in increasing order of precedence.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the HTTP API.",
        discussion: """
            Settings are read from the config file (see Config/kiln.toml, which lists every setting \
            with its default), then from KILN_… environment variables, then from these flags; later \
            sources win. Lists take comma-separated values or repeated flags. SIGTERM or SIGINT \
            drains and stops the server (exit 0); SIGHUP reloads the TLS certificate and rescans models_dir.
            """)

    @Option(name: .long, help: "TOML config file [env KILN_CONFIG].")
    var config: String?

    @Flag(name: .long, help: "Print the resolved settings as TOML and exit.")
    var printConfig = false

    @Option(help: help("server.host")) var host: String?
    @Option(help: help("server.port")) var port: Int?
    @Option(help: help("server.io_queues")) var ioQueues: Int?
    @Option(help: help("server.event_mechanism")) var eventMechanism: String?
    @Option(help: help("server.listen_backlog")) var listenBacklog: Int?
    @Option(help: help("server.listen_after_load")) var listenAfterLoad: Bool?

    @Option(help: help("limits.max_connections")) var maxConnections: Int?
    @Option(help: help("limits.max_body_bytes")) var maxBodyBytes: Int?
    @Option(help: help("limits.max_header_bytes")) var maxHeaderBytes: Int?
    @Option(help: help("limits.max_header_count")) var maxHeaderCount: Int?
    @Option(help: help("limits.max_target_bytes")) var maxTargetBytes: Int?
    @Option(help: help("limits.max_chunk_line_bytes")) var maxChunkLineBytes: Int?
    @Option(help: help("limits.max_buffered_output_bytes")) var maxBufferedOutputBytes: Int?
    @Option(name: .customLong("max-request-id-bytes"), help: help("limits.max_request_id_bytes"))
    var maxRequestIDBytes: Int?

    @Option(help: help("timeouts.header_read_timeout")) var headerReadTimeout: Double?
    @Option(help: help("timeouts.body_idle_timeout")) var bodyIdleTimeout: Double?
    @Option(help: help("timeouts.keep_alive_timeout")) var keepAliveTimeout: Double?
    @Option(help: help("timeouts.send_timeout")) var sendTimeout: Double?
    @Option(help: help("timeouts.handshake_timeout")) var handshakeTimeout: Double?
    @Option(help: help("timeouts.linger_timeout")) var lingerTimeout: Double?
    @Option(help: help("timeouts.shutdown_grace_period")) var shutdownGracePeriod: Double?

    @Option(help: help("security.api_keys")) var apiKeys: [String] = []
    @Option(help: help("security.cors_allowed_origins")) var corsAllowedOrigins: [String] = []

    @Option(help: help("tls.tls_cert")) var tlsCert: String?
    @Option(help: help("tls.tls_key")) var tlsKey: String?

    @Option(help: help("gzip.gzip")) var gzip: Bool?
    @Option(help: help("gzip.gzip_min_bytes")) var gzipMinBytes: Int?
    @Option(help: help("gzip.gzip_level")) var gzipLevel: Int?
    @Option(help: help("gzip.gzip_requests")) var gzipRequests: Bool?

    @Option(name: [.short, .long], help: help("model.model")) var model: [String] = []
    @Option(help: help("model.model_name")) var modelName: String?
    @Option(help: help("model.models_dir")) var modelsDir: String?
    @Option(name: .customLong("memory-budget-mb"), help: help("model.memory_budget_mb")) var memoryBudgetMB: Int?

    @Option(help: help("engine.threads")) var threads: Int?
    @Option(help: help("engine.context_length")) var contextLength: Int?
    @Option(help: help("engine.kv_blocks")) var kvBlocks: Int?
    @Option(help: help("engine.kv_block_size")) var kvBlockSize: Int?
    @Option(help: help("engine.max_batch_sequences")) var maxBatchSequences: Int?
    @Option(help: help("engine.max_batch_tokens")) var maxBatchTokens: Int?
    @Option(help: help("engine.queue_capacity")) var queueCapacity: Int?

    @Option(help: help("api.max_n")) var maxN: Int?
    @Option(help: help("api.default_max_tokens")) var defaultMaxTokens: Int?
    @Option(help: help("api.request_timeout")) var requestTimeout: Double?
    @Option(help: help("api.grammar_max_bytes")) var grammarMaxBytes: Int?
    @Option(help: help("api.grammar_max_schema_nodes")) var grammarMaxSchemaNodes: Int?
    @Option(help: help("api.grammar_max_depth")) var grammarMaxDepth: Int?
    @Option(help: help("api.grammar_max_compiled_elements")) var grammarMaxCompiledElements: Int?
    @Option(help: help("api.grammar_cache_mb")) var grammarCacheMB: Int?

    @Option(help: help("image.image_model")) var imageModel: String?
    @Option(help: help("image.image_model_name")) var imageModelName: String?
    @Option(help: help("image.gan_model")) var ganModel: String?
    @Option(help: help("image.hybrid_model")) var hybridModel: String?
    @Option(help: help("image.image_max_n")) var imageMaxN: Int?
    @Option(help: help("image.image_max_side")) var imageMaxSide: Int?
    @Option(help: help("image.image_max_steps")) var imageMaxSteps: Int?
    @Option(help: help("image.image_default_steps")) var imageDefaultSteps: Int?
    @Option(help: help("image.image_preview_interval")) var imagePreviewInterval: Int?
    @Option(help: help("image.image_max_batch")) var imageMaxBatch: Int?
    @Option(help: help("image.image_max_running")) var imageMaxRunning: Int?
    @Option(help: help("image.image_overlap")) var imageOverlap: Bool?
    @Option(help: help("image.image_threads")) var imageThreads: Int?
    @Option(help: help("image.compute_sharing")) var computeSharing: String?
    @Option(help: help("image.image_threads_beside_text")) var imageThreadsBesideText: Int?
    @Option(help: help("image.winograd_tiles")) var winogradTiles: Int?
    @Option(help: help("image.winograd4_tiles")) var winograd4Tiles: Int?
    @Option(help: help("image.pack_buffers_mb")) var packBuffersMb: Int?

    @Option(help: help("embedding.embedding_model")) var embeddingModel: String?
    @Option(help: help("embedding.text_model_pooling")) var textModelPooling: String?
    @Option(help: help("embedding.embedding_model_name")) var embeddingModelName: String?
    @Option(help: help("embedding.embedding_max_inputs")) var embeddingMaxInputs: Int?
    @Option(help: help("embedding.embedding_max_request_tokens")) var embeddingMaxRequestTokens: Int?
    @Option(help: help("embedding.embedding_max_running")) var embeddingMaxRunning: Int?
    @Option(help: help("embedding.embedding_pass_tokens")) var embeddingPassTokens: Int?
    @Option(help: help("embedding.embedding_pass_tokens_beside_text")) var embeddingPassTokensBesideText: Int?
    @Option(help: help("embedding.embedding_rows_per_iteration")) var embeddingRowsPerIteration: Int?
    @Option(help: help("embedding.embedding_rows_per_iteration_beside_text")) var embeddingRowsPerIterationBesideText: Int?

    @Option(help: help("log.log_format")) var logFormat: String?
    @Option(help: help("log.log_level")) var logLevel: String?
    @Option(help: help("log.access_log")) var accessLog: Bool?

    /// The flags given on the command line, as setting values.
    var flagValues: [(key: String, value: ConfigValue)] {
        var values: [(key: String, value: ConfigValue)] = []
        func add(_ key: String, _ value: ConfigValue?) {
            if let value { values.append((key, value)) }
        }
        func list(_ items: [String]) -> ConfigValue? {
            guard !items.isEmpty else { return nil }
            return .array(items.flatMap { $0.split(separator: ",") }.map { .string(String($0)) })
        }
        add("server.host", host.map { .string($0) })
        add("server.port", port.map { .integer($0) })
        add("server.io_queues", ioQueues.map { .integer($0) })
        add("server.event_mechanism", eventMechanism.map { .string($0) })
        add("server.listen_backlog", listenBacklog.map { .integer($0) })
        add("server.listen_after_load", listenAfterLoad.map { .bool($0) })
        add("limits.max_connections", maxConnections.map { .integer($0) })
        add("limits.max_body_bytes", maxBodyBytes.map { .integer($0) })
        add("limits.max_header_bytes", maxHeaderBytes.map { .integer($0) })
        add("limits.max_header_count", maxHeaderCount.map { .integer($0) })
        add("limits.max_target_bytes", maxTargetBytes.map { .integer($0) })
        add("limits.max_chunk_line_bytes", maxChunkLineBytes.map { .integer($0) })
        add("limits.max_buffered_output_bytes", maxBufferedOutputBytes.map { .integer($0) })
        add("limits.max_request_id_bytes", maxRequestIDBytes.map { .integer($0) })
        add("timeouts.header_read_timeout", headerReadTimeout.map { .double($0) })
        add("timeouts.body_idle_timeout", bodyIdleTimeout.map { .double($0) })
        add("timeouts.keep_alive_timeout", keepAliveTimeout.map { .double($0) })
        add("timeouts.send_timeout", sendTimeout.map { .double($0) })
        add("timeouts.handshake_timeout", handshakeTimeout.map { .double($0) })
        add("timeouts.linger_timeout", lingerTimeout.map { .double($0) })
        add("timeouts.shutdown_grace_period", shutdownGracePeriod.map { .double($0) })
        add("security.api_keys", list(apiKeys))
        add("security.cors_allowed_origins", list(corsAllowedOrigins))
        add("tls.tls_cert", tlsCert.map { .string($0) })
        add("tls.tls_key", tlsKey.map { .string($0) })
        add("gzip.gzip", gzip.map { .bool($0) })
        add("gzip.gzip_min_bytes", gzipMinBytes.map { .integer($0) })
        add("gzip.gzip_level", gzipLevel.map { .integer($0) })
        add("gzip.gzip_requests", gzipRequests.map { .bool($0) })
        add("model.model", list(model))
        add("model.model_name", modelName.map { .string($0) })
        add("model.models_dir", modelsDir.map { .string($0) })
        add("model.memory_budget_mb", memoryBudgetMB.map { .integer($0) })
        add("engine.threads", threads.map { .integer($0) })
        add("engine.context_length", contextLength.map { .integer($0) })
        add("engine.kv_blocks", kvBlocks.map { .integer($0) })
        add("engine.kv_block_size", kvBlockSize.map { .integer($0) })
        add("engine.max_batch_sequences", maxBatchSequences.map { .integer($0) })
        add("engine.max_batch_tokens", maxBatchTokens.map { .integer($0) })
        add("engine.queue_capacity", queueCapacity.map { .integer($0) })
        add("api.max_n", maxN.map { .integer($0) })
        add("api.default_max_tokens", defaultMaxTokens.map { .integer($0) })
        add("api.request_timeout", requestTimeout.map { .double($0) })
        add("api.grammar_max_bytes", grammarMaxBytes.map { .integer($0) })
        add("api.grammar_max_schema_nodes", grammarMaxSchemaNodes.map { .integer($0) })
        add("api.grammar_max_depth", grammarMaxDepth.map { .integer($0) })
        add("api.grammar_max_compiled_elements", grammarMaxCompiledElements.map { .integer($0) })
        add("api.grammar_cache_mb", grammarCacheMB.map { .integer($0) })
        add("image.image_model", imageModel.map { .string($0) })
        add("image.image_model_name", imageModelName.map { .string($0) })
        add("image.gan_model", ganModel.map { .string($0) })
        add("image.hybrid_model", hybridModel.map { .string($0) })
        add("image.image_max_n", imageMaxN.map { .integer($0) })
        add("image.image_max_side", imageMaxSide.map { .integer($0) })
        add("image.image_max_steps", imageMaxSteps.map { .integer($0) })
        add("image.image_default_steps", imageDefaultSteps.map { .integer($0) })
        add("image.image_preview_interval", imagePreviewInterval.map { .integer($0) })
        add("image.image_max_batch", imageMaxBatch.map { .integer($0) })
        add("image.image_max_running", imageMaxRunning.map { .integer($0) })
        add("image.image_overlap", imageOverlap.map { .bool($0) })
        add("image.image_threads", imageThreads.map { .integer($0) })
        add("image.compute_sharing", computeSharing.map { .string($0) })
        add("image.image_threads_beside_text", imageThreadsBesideText.map { .integer($0) })
        add("image.winograd_tiles", winogradTiles.map { .integer($0) })
        add("image.winograd4_tiles", winograd4Tiles.map { .integer($0) })
        add("image.pack_buffers_mb", packBuffersMb.map { .integer($0) })
        add("embedding.embedding_model", embeddingModel.map { .string($0) })
        add("embedding.text_model_pooling", textModelPooling.map { .string($0) })
        add("embedding.embedding_model_name", embeddingModelName.map { .string($0) })
        add("embedding.embedding_max_inputs", embeddingMaxInputs.map { .integer($0) })
        add("embedding.embedding_max_request_tokens", embeddingMaxRequestTokens.map { .integer($0) })
        add("embedding.embedding_max_running", embeddingMaxRunning.map { .integer($0) })
        add("embedding.embedding_pass_tokens", embeddingPassTokens.map { .integer($0) })
        add("embedding.embedding_pass_tokens_beside_text", embeddingPassTokensBesideText.map { .integer($0) })
        add("embedding.embedding_rows_per_iteration", embeddingRowsPerIteration.map { .integer($0) })
        add("embedding.embedding_rows_per_iteration_beside_text", embeddingRowsPerIterationBesideText.map { .integer($0) })
        add("log.log_format", logFormat.map { .string($0) })
        add("log.log_level", logLevel.map { .string($0) })
        add("log.access_log", accessLog.map { .bool($0) })
        return values
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let settings: ServeSettings
        do {
            settings = try ConfigCatalogue.resolve(
                configFile: config ?? environment["KILN_CONFIG"],
                environment: environment, flags: flagValues)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
        if printConfig {
            print(ConfigCatalogue.render(settings), terminator: "")
            return
        }
        try ServeRuntime(settings: settings).run()
    }
}
