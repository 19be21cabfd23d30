import ArgumentParser
import Dispatch
import Foundation
import KilnAPI
import KilnHTTP
import KilnServe
import Logging

/// Wires `kiln serve` together: logging, TLS, the router with the ops and API endpoints, the
/// server, readiness and signals. The models load on a thread of their own while the server
/// already answers `/health`; readiness turns `ready` once they are loaded.
struct ServeRuntime {
    let settings: ServeSettings

    func serverConfiguration() -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        configuration.host = settings.host
        configuration.port = settings.port
        configuration.ioQueueCount = settings.ioQueues
        configuration.eventMechanism = HTTPServerConfiguration.EventMechanism(rawValue: settings.eventMechanism) ?? .platformDefault
        configuration.listenBacklog = Int32(clamping: settings.listenBacklog)
        configuration.maxConnections = settings.maxConnections
        configuration.maxBufferedOutputBytes = settings.maxBufferedOutputBytes
        configuration.maxRequestIDBytes = settings.maxRequestIDBytes
        configuration.parserLimits = HTTPParserLimits(
            maxTargetBytes: settings.maxTargetBytes, maxHeaderBytes: settings.maxHeaderBytes,
            maxHeaderCount: settings.maxHeaderCount, maxBodyBytes: settings.maxBodyBytes,
            maxChunkLineBytes: settings.maxChunkLineBytes)
        configuration.headerReadTimeout = settings.headerReadTimeout
        configuration.bodyIdleTimeout = settings.bodyIdleTimeout
        configuration.keepAliveTimeout = settings.keepAliveTimeout
        configuration.sendTimeout = settings.sendTimeout
        configuration.handshakeTimeout = settings.handshakeTimeout
        configuration.lingerTimeout = settings.lingerTimeout
        configuration.shutdownGracePeriod = settings.shutdownGracePeriod
        configuration.compression = CompressionSettings(
            compressesResponses: settings.gzip, minimumResponseBytes: settings.gzipMinBytes,
            level: Int32(settings.gzipLevel), acceptsGzipRequests: settings.gzipRequests)
        return configuration
    }

    /// The settings with `image_model` resolved to a folder (empty: no image endpoint).
    /// `embedding_model` stays as given: the default one is fetched, if need be, while the
    /// models load (`ServeModelLoader`).
    func resolvingModels(logger: Logger) -> ServeSettings {
        var resolved = settings
        resolved.imageModel = DefaultImageModel.resolve(settings.imageModel) ?? ""
        // Kiln's own GAN comes with its own DiT: a server named another image model serves that alone.
        let ganSetting = settings.ganModel.isEmpty && !settings.imageModel.isEmpty ? DefaultImageModel.disabled : settings.ganModel
        resolved.ganModel = DefaultImageModel.resolve(ganSetting, model: DefaultImageModel.ganName) ?? ""
        // The same for Kiln's own hybrid.
        let hybridSetting = settings.hybridModel.isEmpty && !settings.imageModel.isEmpty ? DefaultImageModel.disabled : settings.hybridModel
        resolved.hybridModel = DefaultImageModel.resolve(hybridSetting, model: DefaultImageModel.hybridName) ?? ""
        if settings.imageModel.isEmpty && resolved.imageModel.isEmpty {
            logger.warning(
                "the default image model was not found; serving text only",
                metadata: [
                    "model": .string(DefaultImageModel.name),
                    "looked_in": .string(DefaultImageModel.candidates().prefix(4).joined(separator: ", ")),
                ])
        }
        return resolved
    }

    func run() throws -> Never {
        // First, before any thread starts: signals that arrive from now on wait, blocked, for the
        // main thread's `sigwait` at the end, so none is lost however early it comes.
        ServeSignals.block()
        ServeLogging.bootstrap(format: settings.logFormat, level: settings.logLevel)
        let logger = Logger(label: "kiln.serve")
        var configuration = serverConfiguration()
        let settings = resolvingModels(logger: logger)

        let tls: TLSContext?
        if settings.tlsCert.isEmpty {
            tls = nil
        } else {
            do {
                let context = try TLSContext(certificatePath: settings.tlsCert, keyPath: settings.tlsKey)
                configuration.securityLayerFactory = context.securityLayerFactory
                tls = context
            } catch {
                logger.critical("cannot load the TLS certificate", metadata: ["error": .string("\(error)")])
                throw ExitCode(1)
            }
        }

        let readiness = OpsReadiness(.loading)
        let metrics = OpsMetrics()
        let router = Router(
            cors: CORSPolicy(allowedOrigins: settings.corsAllowedOrigins),
            authenticator: APIKeyAuthenticator(keys: settings.apiKeys))
        OpsEndpoints(metrics: metrics, readiness: readiness).register(on: router)
        PlaygroundEndpoints.register(on: router)
        let text = ServiceSlot<ServeModelLoader.Loaded>()
        let imageModelNames = ServeModelLoader.imageModelIDs(settings)
        let embeddingModelName = ServeModelLoader.embeddingModelID(settings)
        TextGenerationService.register(
            on: router, models: { text.value?.text },
            otherModels: { imageModelNames + [embeddingModelName].compactMap { $0 } })
        if !imageModelNames.isEmpty {
            ImageGenerationService.register(on: router) { text.value?.images }
        }
        if embeddingModelName != nil || settings.textModelPooling != "none" {
            EmbeddingService.register(on: router) { text.value?.embeddings }
        }

        let server = HTTPServer(
            configuration: configuration, logger: Logger(label: "kiln.http"),
            accessLog: AccessLog(logger: Logger(label: "kiln.access"), isEnabled: settings.accessLog),
            observer: metrics, handler: router.handler)
        let onTerminate: @Sendable (Bool) -> Void = { forced in
            if forced {
                logger.warning("second signal: stopping now")
                ServeSignals.exitNow(0)
            }
            // Before the model has loaded no generation can be in flight: nothing to drain,
            // and the loading thread is left alone instead of racing a shutdown.
            if readiness.state == .loading { ServeSignals.exitNow(0) }
            readiness.state = .draining
            // The scheduler goes on taking work: the server accepts no new connection, closes
            // idle ones, and answers each busy one's request (one more at most, with
            // `Connection: close`), so what reaches the scheduler now is a request a client
            // already sent, which a 503 would turn into an error no proxy may retry.
            server.shutdown(gracePeriod: settings.shutdownGracePeriod) {
                text.value?.stop()
                ServeSignals.exitNow(0)
            }
        }
        let onReload: @Sendable () -> Void = {
            if let reloadModels = text.value?.reloadModels {
                reloadModels()
            } else if !settings.modelsDir.isEmpty {
                logger.info("SIGHUP: the models are still loading; the models folder is not rescanned")
            }
            guard let tls else {
                if settings.modelsDir.isEmpty { logger.info("SIGHUP: nothing to reload (TLS is off, no models_dir)") }
                return
            }
            do {
                try tls.reload()
                logger.info("TLS certificate reloaded", metadata: ["sha256": .string(tls.certificateFingerprintSHA256)])
            } catch {
                logger.error("TLS reload failed; keeping the previous certificate", metadata: ["error": .string("\(error)")])
            }
        }
        let scheme = tls == nil ? "http" : "https"
        let listen: @Sendable () -> Bool = {
            do {
                try server.start()
            } catch {
                logger.critical(
                    "cannot listen",
                    metadata: [
                        "host": .string(settings.host), "port": .stringConvertible(settings.port),
                        "error": .string("\(error)"),
                    ])
                return false
            }
            // A fixed line on stdout that scripts and tests wait for, whatever the log settings.
            print("kiln listening on \(server.addresses.map { "\(scheme)://\($0)" }.joined(separator: " "))")
            fflush(nil)  // every output stream, stdout among them
            return true
        }
        if !settings.listenAfterLoad, !listen() { throw ExitCode(1) }

        // The model loads after the socket is bound: /health answers at once, /ready once loaded
        // (with `listen_after_load`, the socket is bound once the model has loaded).
        // A plain thread, not a Dispatch queue: the engine's threads (scheduler loop, worker pools)
        // are created from here and inherit its scheduling priority, and libdispatch runs its
        // global queues at its own nice value, which would override the operator's `nice kiln`.
        let loader = Thread {
            do {
                text.value = try ServeModelLoader(settings: settings).load(logger: logger, metrics: metrics)
                // Readiness turns after the port opens: a SIGTERM until then finds `loading`
                // and exits at once, with nothing in flight.
                if settings.listenAfterLoad, !listen() { ServeSignals.exitNow(1) }
                if readiness.state == .loading { readiness.state = .ready }
            } catch {
                logger.critical("cannot load the model", metadata: ["error": .string("\(error)")])
                ServeSignals.exitNow(1)
            }
        }
        loader.name = "kiln.load"
        loader.start()
        ServeSignals.waitForever(onTerminate: onTerminate, onReload: onReload)
    }
}

/// SIGTERM/SIGINT (drain and stop; a second one stops at once) and SIGHUP (reload).
///
/// The signals are blocked in every thread and taken with `sigwait` on the main thread, which has
/// nothing else to do. Not Dispatch signal sources: on Linux libdispatch parks the main thread in
/// `sigsuspend` with every signal unblocked, and a signal the kernel hands to that thread is
/// consumed there, racing the signalfd the source reads. A SIGINT sent right after start-up was
/// lost that way about one time in three, and the server never stopped.
enum ServeSignals {
    /// Ends the process once the server has drained. `_exit` rather than `exit`: the model may
    /// still be loading on another thread, and running atexit handlers and static destructors
    /// under it can deadlock; the logs are flushed first and nothing else needs tearing down.
    static func exitNow(_ code: Int32) -> Never {
        fflush(nil)  // every output stream: stdout and stderr
        _exit(code)
    }

    private static var handled: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, signalNumber) }
        return set
    }

    /// Blocks the handled signals in the calling thread and so in every thread it makes later:
    /// call it on the main thread before any other thread starts. Blocked signals stay pending
    /// until `waitForever` takes them, whenever they arrive.
    static func block() {
        var set = handled
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Takes signals on the calling (main) thread for the rest of the process's life; the
    /// handlers run on a serial queue, so a second SIGTERM is seen while the first one drains.
    static func waitForever(onTerminate: @escaping @Sendable (_ forced: Bool) -> Void, onReload: @escaping @Sendable () -> Void) -> Never {
        let queue = DispatchQueue(label: "kiln.signals")
        var set = handled
        var terminations = 0
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            if received == SIGHUP {
                queue.async(execute: onReload)
            } else {
                terminations += 1
                let forced = terminations > 1
                queue.async { onTerminate(forced) }
            }
        }
    }
}
