import Foundation
import KilnHTTP
import KilnServe

/// The list of every `kiln serve` setting, in the order of `Config/kiln.toml`, and the merging of
/// the file, the environment and the flags over the defaults.
enum ConfigCatalogue {
    static let settings: [ConfigSetting] = [
        ConfigSetting(
            key: "server.host", binding: .string(\.host),
            help: "Address or host name to listen on (:: for every IPv4 and IPv6 address)."),
        ConfigSetting(key: "server.port", binding: .integer(\.port), help: "TCP port (0 picks a free one)."),
        ConfigSetting(
            key: "server.io_queues", binding: .integer(\.ioQueues),
            help: "Serial queues running connections (0 = one per core)."),
        ConfigSetting(
            key: "server.event_mechanism", binding: .string(\.eventMechanism),
            help: "How sockets are watched: dispatch (Dispatch queues and sources) or epoll (a thread per loop, Linux only)."),
        ConfigSetting(
            key: "server.listen_backlog", binding: .integer(\.listenBacklog),
            help: "Kernel queue of connections not yet accepted."),
        ConfigSetting(
            key: "server.listen_after_load", binding: .bool(\.listenAfterLoad),
            help:
                "Open the port only once the models have loaded (for load balancers that learn a replica's state from refused connections alone; /health then answers only once loaded)."
        ),

        ConfigSetting(
            key: "limits.max_connections", binding: .integer(\.maxConnections),
            help: "Most open connections; more are answered 503 and closed."),
        ConfigSetting(
            key: "limits.max_body_bytes", binding: .integer(\.maxBodyBytes),
            help: "Largest request body, after chunked and gzip decoding (413 beyond)."),
        ConfigSetting(
            key: "limits.max_header_bytes", binding: .integer(\.maxHeaderBytes),
            help: "Largest request head, request line included (431 beyond)."),
        ConfigSetting(
            key: "limits.max_header_count", binding: .integer(\.maxHeaderCount),
            help: "Most header fields in a request (431 beyond)."),
        ConfigSetting(
            key: "limits.max_target_bytes", binding: .integer(\.maxTargetBytes),
            help: "Longest request target (414 beyond)."),
        ConfigSetting(
            key: "limits.max_chunk_line_bytes", binding: .integer(\.maxChunkLineBytes),
            help: "Longest chunk-size line with its extensions (400 beyond)."),
        ConfigSetting(
            key: "limits.max_buffered_output_bytes", binding: .integer(\.maxBufferedOutputBytes),
            help:
                "Unsent output one connection may hold when more is queued before it is dropped (one response or event larger than this still goes out whole)."
        ),
        ConfigSetting(
            key: "limits.max_request_id_bytes", binding: .integer(\.maxRequestIDBytes),
            help:
                "Longest X-Request-ID taken from a client (A-Z a-z 0-9 . _ : - only); a longer or malformed one is replaced by a generated id."
        ),

        ConfigSetting(
            key: "timeouts.header_read_timeout", binding: .double(\.headerReadTimeout),
            help: "Seconds to receive a request head (408 after)."),
        ConfigSetting(
            key: "timeouts.body_idle_timeout", binding: .double(\.bodyIdleTimeout),
            help: "Seconds without progress while a body arrives (408 after)."),
        ConfigSetting(
            key: "timeouts.keep_alive_timeout", binding: .double(\.keepAliveTimeout),
            help: "Seconds an idle keep-alive connection stays open."),
        ConfigSetting(
            key: "timeouts.send_timeout", binding: .double(\.sendTimeout),
            help: "Seconds without progress sending before the connection is dropped."),
        ConfigSetting(
            key: "timeouts.handshake_timeout", binding: .double(\.handshakeTimeout),
            help: "Seconds to complete a TLS handshake."),
        ConfigSetting(
            key: "timeouts.linger_timeout", binding: .double(\.lingerTimeout),
            help: "Seconds to drain input after an error response before closing."),
        ConfigSetting(
            key: "timeouts.shutdown_grace_period", binding: .double(\.shutdownGracePeriod),
            help: "Seconds in-flight requests get to finish on SIGTERM/SIGINT."),

        ConfigSetting(
            key: "security.api_keys", binding: .strings(\.apiKeys),
            help: "API keys accepted as 'Authorization: Bearer <key>' (none = no authentication)."),
        ConfigSetting(
            key: "security.cors_allowed_origins", binding: .strings(\.corsAllowedOrigins),
            help: "Browser origins allowed by CORS (none = CORS off; \"*\" = any)."),

        ConfigSetting(
            key: "tls.tls_cert", binding: .string(\.tlsCert),
            help: "PEM certificate chain; with tls_key, serves HTTPS (SIGHUP reloads both)."),
        ConfigSetting(key: "tls.tls_key", binding: .string(\.tlsKey), help: "PEM private key for tls_cert."),

        ConfigSetting(
            key: "gzip.gzip", binding: .bool(\.gzip),
            help: "Compress JSON and text responses for clients that accept gzip."),
        ConfigSetting(
            key: "gzip.gzip_min_bytes", binding: .integer(\.gzipMinBytes),
            help: "Smallest response body worth compressing."),
        ConfigSetting(key: "gzip.gzip_level", binding: .integer(\.gzipLevel), help: "zlib level, 1 (fast) to 9 (small)."),
        ConfigSetting(
            key: "gzip.gzip_requests", binding: .bool(\.gzipRequests),
            help: "Accept request bodies sent with Content-Encoding: gzip."),

        ConfigSetting(
            key: "model.model", binding: .strings(\.model),
            help:
                "GGUF language models to serve, each a path or id=path (none and no models_dir = the default model, fetched on first run); requests pick one by their model member."
        ),
        ConfigSetting(
            key: "model.model_name", binding: .string(\.modelName),
            help: "Model id in the API, for a single model (empty = the file name without .gguf)."),
        ConfigSetting(
            key: "model.models_dir", binding: .string(\.modelsDir),
            help: "Folder whose .gguf files are served too, each under its file name without .gguf (read at start and again on SIGHUP)."),
        ConfigSetting(
            key: "model.memory_budget_mb", binding: .integer(\.memoryBudgetMB),
            help:
                "MiB the models may take together (language models: weights and KV cache; image and embedding models, always loaded: weights); beyond it language models load on demand and the least recently used idle one is unloaded (0 = no limit: all stay loaded)."
        ),

        ConfigSetting(
            key: "engine.threads", binding: .integer(\.threads),
            help: "Kernel worker threads (0 = one per core)."),
        ConfigSetting(
            key: "engine.context_length", binding: .integer(\.contextLength),
            help: "Longest sequence, prompt and answer (0 = the model's own)."),
        ConfigSetting(
            key: "engine.kv_blocks", binding: .integer(\.kvBlocks),
            help: "Blocks in the KV cache pool, shared by all sequences and the prefix cache."),
        ConfigSetting(
            key: "engine.kv_block_size", binding: .integer(\.kvBlockSize),
            help: "Tokens per KV block (the prefix cache's unit of reuse)."),
        ConfigSetting(
            key: "engine.max_batch_sequences", binding: .integer(\.maxBatchSequences),
            help: "Most sequences decoded together in one step."),
        ConfigSetting(
            key: "engine.max_batch_tokens", binding: .integer(\.maxBatchTokens),
            help: "Most tokens in one step; long prompts are prefilled in chunks under it."),
        ConfigSetting(
            key: "engine.queue_capacity", binding: .integer(\.queueCapacity),
            help: "Jobs waiting for the engine; more get 429 with Retry-After."),

        ConfigSetting(
            key: "api.max_n", binding: .integer(\.maxN),
            help: "Most choices (n, times the prompts of a completion) in one request."),
        ConfigSetting(
            key: "api.default_max_tokens", binding: .integer(\.defaultMaxTokens),
            help: "max_tokens when a request gives none (capped by the context left)."),
        ConfigSetting(
            key: "api.request_timeout", binding: .double(\.requestTimeout),
            help: "Seconds a generation may take, queued and running (0 = no limit)."),
        ConfigSetting(
            key: "api.grammar_max_bytes", binding: .integer(\.grammarMaxBytes),
            help: "Longest grammar a request may give (GBNF text, or what its JSON Schema compiles to), in bytes."),
        ConfigSetting(
            key: "api.grammar_max_schema_nodes", binding: .integer(\.grammarMaxSchemaNodes),
            help: "Most nodes (objects, arrays and values) in a request's JSON Schema."),
        ConfigSetting(
            key: "api.grammar_max_depth", binding: .integer(\.grammarMaxDepth),
            help: "Most nested levels of a request's grammar groups or JSON Schema."),
        ConfigSetting(
            key: "api.grammar_max_compiled_elements", binding: .integer(\.grammarMaxCompiledElements),
            help: "Most elements of one compiled grammar (its size after expansion)."),
        ConfigSetting(
            key: "api.grammar_cache_mb", binding: .integer(\.grammarCacheMB),
            help: "Megabytes of compiled grammars kept for reuse (0 = none)."),

        ConfigSetting(
            key: "image.image_model", binding: .string(\.imageModel),
            help:
                "Diffusers folder of an image pipeline served beside the language model (empty = Kiln's own kiln-shapes-dit, \"none\" = no image endpoint)."
        ),
        ConfigSetting(
            key: "image.image_model_name", binding: .string(\.imageModelName),
            help: "Image model id in the API (empty = the folder's name)."),
        ConfigSetting(
            key: "image.gan_model", binding: .string(\.ganModel),
            help:
                "Folder of a GAN served beside the image model, its id the folder's name (empty = Kiln's own kiln-shapes-gan when installed, \"none\" = none)."
        ),
        ConfigSetting(
            key: "image.hybrid_model", binding: .string(\.hybridModel),
            help:
                "Folder of an autoregressive-diffusion hybrid (MADFormer) served beside the image model, its id the folder's name (empty = Kiln's own kiln-shapes-madformer when installed, \"none\" = none)."
        ),
        ConfigSetting(
            key: "image.image_max_n", binding: .integer(\.imageMaxN),
            help: "Most images (n) in one request."),
        ConfigSetting(
            key: "image.image_max_side", binding: .integer(\.imageMaxSide),
            help: "Longest image side in pixels a request may ask for."),
        ConfigSetting(
            key: "image.image_max_steps", binding: .integer(\.imageMaxSteps),
            help: "Most denoising steps a request may ask for."),
        ConfigSetting(
            key: "image.image_default_steps", binding: .integer(\.imageDefaultSteps),
            help: "Denoising steps when a request gives none."),
        ConfigSetting(
            key: "image.image_preview_interval", binding: .integer(\.imagePreviewInterval),
            help: "Steps between streamed previews when a request names none (0 = no previews)."),
        ConfigSetting(
            key: "image.image_max_batch", binding: .integer(\.imageMaxBatch),
            help: "Images of the same size and steps advanced by one denoiser call."),
        ConfigSetting(
            key: "image.image_max_running", binding: .integer(\.imageMaxRunning),
            help: "Image jobs denoising at once; more wait in the queue."),
        ConfigSetting(
            key: "image.image_overlap", binding: .bool(\.imageOverlap),
            help: "Run denoising steps on their own thread beside text iterations (false = between them)."),
        ConfigSetting(
            key: "image.image_threads", binding: .integer(\.imageThreads),
            help: "Threads of the image models' kernel pool (0 = one per core)."),
        ConfigSetting(
            key: "image.compute_sharing", binding: .string(\.computeSharing),
            help:
                "How text and overlapping denoising steps share the cores while both run: text_first (the image's kernels keep to image_threads_beside_text threads, text's to the cores left) or off (each uses every core)."
        ),
        ConfigSetting(
            key: "image.image_threads_beside_text", binding: .integer(\.imageThreadsBesideText),
            help: "Under compute_sharing = text_first, threads the image kernels use while text runs (0 = half the cores, at least one)."),
        ConfigSetting(
            key: "image.winograd_tiles", binding: .integer(\.winogradTiles),
            help: "3×3 convolutions over at least this many 2×2 output tiles use Winograd F(2×2) (0 = no Winograd)."),
        ConfigSetting(
            key: "image.winograd4_tiles", binding: .integer(\.winograd4Tiles),
            help: "3×3 convolutions over at least this many 4×4 output tiles use Winograd F(4×4) (0 = never)."),
        ConfigSetting(
            key: "image.pack_buffers_mb", binding: .integer(\.packBuffersMb),
            help: "Megabytes of idle weight-packing buffers the image kernels keep between products."),

        ConfigSetting(
            key: "embedding.embedding_model", binding: .string(\.embeddingModel),
            help:
                "Sentence-transformers folder or llama.cpp bert GGUF file of an embedding model served at /v1/embeddings (empty = all-MiniLM-L6-v2, fetched once; \"none\" = no embedding endpoint)."
        ),
        ConfigSetting(
            key: "embedding.text_model_pooling", binding: .string(\.textModelPooling),
            help:
                "The language model also embeds, under its own id, pooling its final hidden states: mean or last (token), normalised; none = it does not."
        ),
        ConfigSetting(
            key: "embedding.embedding_model_name", binding: .string(\.embeddingModelName),
            help: "Embedding model id in the API (empty = the folder's name, or the GGUF file's without .gguf)."),
        ConfigSetting(
            key: "embedding.embedding_max_inputs", binding: .integer(\.embeddingMaxInputs),
            help: "Most inputs in one embeddings request."),
        ConfigSetting(
            key: "embedding.embedding_max_request_tokens", binding: .integer(\.embeddingMaxRequestTokens),
            help: "Most tokens in one embeddings request, summed over its inputs."),
        ConfigSetting(
            key: "embedding.embedding_max_running", binding: .integer(\.embeddingMaxRunning),
            help: "Embedding requests whose inputs are batched at once; more wait in the queue."),
        ConfigSetting(
            key: "embedding.embedding_pass_tokens", binding: .integer(\.embeddingPassTokens),
            help: "Most tokens in one batched encoder pass while no text is generated."),
        ConfigSetting(
            key: "embedding.embedding_pass_tokens_beside_text", binding: .integer(\.embeddingPassTokensBesideText),
            help: "Most tokens in one encoder pass while text is generated."),
        ConfigSetting(
            key: "embedding.embedding_rows_per_iteration", binding: .integer(\.embeddingRowsPerIteration),
            help: "Encoder work per scheduler iteration while no text is generated, in token rows (a token through a third of a layer)."),
        ConfigSetting(
            key: "embedding.embedding_rows_per_iteration_beside_text", binding: .integer(\.embeddingRowsPerIterationBesideText),
            help: "Encoder work per scheduler iteration while text is generated, in token rows (small, so token streams keep their pace)."),

        ConfigSetting(key: "log.log_format", binding: .string(\.logFormat), help: "Log line format: text or json."),
        ConfigSetting(
            key: "log.log_level", binding: .string(\.logLevel),
            help: "Least severe level logged: trace, debug, info, notice, warning, error, critical."),
        ConfigSetting(key: "log.access_log", binding: .bool(\.accessLog), help: "Log one line per request."),
    ]

    static func setting(_ key: String) -> ConfigSetting {
        guard let setting = settings.first(where: { $0.key == key }) else { fatalError("unknown setting \(key)") }
        return setting
    }

    /// Resolves the settings: defaults, then the file, then `KILN_…` variables, then flags.
    static func resolve(
        configFile: String?, environment: [String: String],
        flags: [(key: String, value: ConfigValue)]
    ) throws -> ServeSettings {
        var resolved = ServeSettings()
        if let configFile {
            let text: String
            do {
                text = try String(contentsOfFile: configFile, encoding: .utf8)
            } catch {
                throw ConfigError("cannot read config file \(configFile): \(error.localizedDescription)")
            }
            for (key, value) in try ConfigTOML.parse(text, file: configFile).sorted(by: { $0.key < $1.key }) {
                guard let setting = settings(matching: key) else {
                    throw ConfigError("\(configFile): unknown setting \(key)")
                }
                try setting.apply(value, to: &resolved, source: configFile)
            }
        }
        for setting in Self.settings {
            if let text = environment[setting.environmentVariable] {
                try setting.apply(try setting.parseEnvironment(text), to: &resolved, source: setting.environmentVariable)
            }
        }
        for (key, value) in flags {
            let setting = setting(key)
            try setting.apply(value, to: &resolved, source: setting.flag)
        }
        try validate(resolved)
        return resolved
    }

    private static func settings(matching key: String) -> ConfigSetting? {
        settings.first { $0.key == key }
    }

    static func validate(_ settings: ServeSettings) throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw ConfigError(message) }
        }
        try require((0...65535).contains(settings.port), "port must be between 0 and 65535")
        try require(settings.ioQueues >= 0 && settings.ioQueues <= 256, "io_queues must be between 0 and 256")
        let mechanism = HTTPServerConfiguration.EventMechanism(rawValue: settings.eventMechanism)
        try require(mechanism != nil, "event_mechanism must be dispatch or epoll")
        try require(mechanism?.isAvailable ?? true, "event_mechanism \(settings.eventMechanism) is not available on this platform")
        try require(settings.listenBacklog > 0, "listen_backlog must be positive")
        try require(settings.memoryBudgetMB >= 0, "memory_budget_mb must not be negative")
        try require(["none", "mean", "last"].contains(settings.textModelPooling), "text_model_pooling must be none, mean or last")
        for (name, value) in [
            ("max_connections", settings.maxConnections), ("max_body_bytes", settings.maxBodyBytes),
            ("max_header_bytes", settings.maxHeaderBytes), ("max_header_count", settings.maxHeaderCount),
            ("max_target_bytes", settings.maxTargetBytes), ("max_chunk_line_bytes", settings.maxChunkLineBytes),
            ("max_buffered_output_bytes", settings.maxBufferedOutputBytes),
            ("max_request_id_bytes", settings.maxRequestIDBytes),
            ("embedding_max_inputs", settings.embeddingMaxInputs), ("embedding_max_request_tokens", settings.embeddingMaxRequestTokens),
            ("embedding_max_running", settings.embeddingMaxRunning), ("embedding_pass_tokens", settings.embeddingPassTokens),
            ("embedding_pass_tokens_beside_text", settings.embeddingPassTokensBesideText),
            ("embedding_rows_per_iteration", settings.embeddingRowsPerIteration),
            ("embedding_rows_per_iteration_beside_text", settings.embeddingRowsPerIterationBesideText),
        ] {
            try require(value > 0, "\(name) must be positive")
        }
        for (name, value) in [
            ("header_read_timeout", settings.headerReadTimeout), ("body_idle_timeout", settings.bodyIdleTimeout),
            ("keep_alive_timeout", settings.keepAliveTimeout), ("send_timeout", settings.sendTimeout),
            ("handshake_timeout", settings.handshakeTimeout),
        ] {
            try require(value > 0, "\(name) must be positive")
        }
        try require(settings.lingerTimeout >= 0 && settings.shutdownGracePeriod >= 0, "linger and grace periods must not be negative")
        try require(settings.tlsCert.isEmpty == settings.tlsKey.isEmpty, "tls_cert and tls_key go together")
        try require((1...9).contains(settings.gzipLevel), "gzip_level must be between 1 and 9")
        try require(settings.gzipMinBytes >= 0, "gzip_min_bytes must not be negative")
        try require(["text", "json"].contains(settings.logFormat), "log_format must be text or json")
        try require((1...(64 << 20)).contains(settings.grammarMaxBytes), "grammar_max_bytes must be between 1 and 67108864")
        try require((1...10_000_000).contains(settings.grammarMaxSchemaNodes), "grammar_max_schema_nodes must be in 1...10000000")
        try require((1...10_000).contains(settings.grammarMaxDepth), "grammar_max_depth must be in 1...10000")
        try require((1...100_000_000).contains(settings.grammarMaxCompiledElements), "grammar_max_compiled_elements must be in 1...100000000")
        try require((0...65_536).contains(settings.grammarCacheMB), "grammar_cache_mb must be in 0...65536")
        try require((1...64).contains(settings.imageMaxN), "image_max_n must be between 1 and 64")
        try require((8...4096).contains(settings.imageMaxSide), "image_max_side must be between 8 and 4096")
        try require((1...1000).contains(settings.imageMaxSteps), "image_max_steps must be between 1 and 1000")
        try require(
            (1...settings.imageMaxSteps).contains(settings.imageDefaultSteps),
            "image_default_steps must be between 1 and image_max_steps")
        try require(settings.imagePreviewInterval >= 0, "image_preview_interval must not be negative")
        try require((1...256).contains(settings.imageMaxBatch), "image_max_batch must be between 1 and 256")
        try require((1...4096).contains(settings.imageMaxRunning), "image_max_running must be between 1 and 4096")
        try require((0...256).contains(settings.imageThreads), "image_threads must be between 0 and 256")
        try require(ComputeSharing(rawValue: settings.computeSharing) != nil, "compute_sharing must be text_first or off")
        try require(
            (0...256).contains(settings.imageThreadsBesideText), "image_threads_beside_text must be between 0 and 256")
        try require(settings.winogradTiles >= 0 && settings.winograd4Tiles >= 0, "winograd_tiles and winograd4_tiles must not be negative")
        try require((0...(1 << 20)).contains(settings.packBuffersMb), "pack_buffers_mb must be between 0 and 1048576")
        try require(
            ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(settings.logLevel),
            "log_level must be one of trace, debug, info, notice, warning, error, critical")
    }

    /// The settings as a TOML document, in the file's layout (`kiln serve --print-config`).
    static func render(_ resolved: ServeSettings) -> String {
        var lines: [String] = []
        var section = ""
        for setting in settings {
            let parts = setting.key.split(separator: ".")
            if parts[0] != section {
                if !lines.isEmpty { lines.append("") }
                section = String(parts[0])
                lines.append("[\(section)]")
            }
            lines.append("\(parts[1]) = \(setting.value(in: resolved))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
