import ArgumentParser
import Dispatch
import Foundation
import KilnAPI
import KilnHTTP
import KilnServe
import Logging

/// Wires `kiln serve` together: logging, TLS, the router with its endpoints, the server,
/// readiness and signals. Later issues load models here and register the API routes on
/// ``router`` before the server starts (readiness turns `ready` once they are loaded).
struct ServeRuntime {
    let settings: ServeSettings

    func serverConfiguration() -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        configuration.host = settings.host
        configuration.port = settings.port
        configuration.ioQueueCount = settings.ioQueues
        configuration.listenBacklog = Int32(clamping: settings.listenBacklog)
        configuration.maxConnections = settings.maxConnections
        configuration.maxBufferedOutputBytes = settings.maxBufferedOutputBytes
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

    func run() throws -> Never {
        ServeLogging.bootstrap(format: settings.logFormat, level: settings.logLevel)
        let logger = Logger(label: "kiln.serve")
        var configuration = serverConfiguration()

        var tls: TLSContext? = nil
        if !settings.tlsCert.isEmpty {
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
        let router = Router(cors: CORSPolicy(allowedOrigins: settings.corsAllowedOrigins),
                            authenticator: APIKeyAuthenticator(keys: settings.apiKeys))
        OpsEndpoints(metrics: metrics, readiness: readiness).register(on: router)
        let text = ServiceSlot<ServeModelLoader.Loaded>()
        let imageModelName = ServeModelLoader.imageModelID(settings)
        TextGenerationService.register(on: router, service: { text.value?.service },
                                       otherModels: { imageModelName.map { [$0] } ?? [] })
        if imageModelName != nil {
            ImageGenerationService.register(on: router) { text.value?.images }
        }

        let server = HTTPServer(configuration: configuration, logger: Logger(label: "kiln.http"),
                                accessLog: AccessLog(logger: Logger(label: "kiln.access"), isEnabled: settings.accessLog),
                                observer: metrics, handler: router.handler)
        // Signals are handled before the listening line appears, so none can be lost in between.
        ServeSignals.install(
            onTerminate: { forced in
                if forced {
                    logger.warning("second signal: stopping now")
                    ServeSignals.exitNow(0)
                }
                // Before the model has loaded no generation can be in flight: nothing to drain,
                // and the loading thread is left alone instead of racing a shutdown.
                if readiness.state == .loading { ServeSignals.exitNow(0) }
                readiness.state = .draining
                text.value?.scheduler.beginDraining()
                server.shutdown(gracePeriod: settings.shutdownGracePeriod) {
                    text.value?.scheduler.stop()
                    ServeSignals.exitNow(0)
                }
            },
            onReload: {
                guard let tls else {
                    logger.info("SIGHUP: nothing to reload (TLS is off)")
                    return
                }
                do {
                    try tls.reload()
                    logger.info("TLS certificate reloaded", metadata: ["sha256": .string(tls.certificateFingerprintSHA256)])
                } catch {
                    logger.error("TLS reload failed; keeping the previous certificate", metadata: ["error": .string("\(error)")])
                }
            })
        do {
            try server.start()
        } catch {
            logger.critical("cannot listen", metadata: ["host": .string(settings.host), "port": .stringConvertible(settings.port),
                                                        "error": .string("\(error)")])
            throw ExitCode(1)
        }
        let scheme = tls == nil ? "http" : "https"
        // A fixed line on stdout that scripts and tests wait for, whatever the log settings.
        print("kiln listening on \(server.addresses.map { "\(scheme)://\($0)" }.joined(separator: " "))")
        fflush(stdout)

        // The model loads after the socket is bound: /health answers at once, /ready once loaded.
        // A plain thread, not a Dispatch queue: the engine's threads (scheduler loop, worker pools)
        // are created from here and inherit its scheduling priority, and libdispatch runs its
        // global queues at its own nice value, which would override the operator's `nice kiln`.
        let loader = Thread {
            do {
                let exporter = SchedulerMetricsExporter(registry: metrics.registry)
                let loaded = try ServeModelLoader(settings: settings).load(logger: logger, observer: exporter.observer)
                metrics.addRefresh { exporter.refresh(from: loaded.scheduler.metrics()) }
                loaded.scheduler.start()
                text.value = loaded
                if readiness.state == .loading { readiness.state = .ready }
            } catch {
                logger.critical("cannot load the model", metadata: ["error": .string("\(error)")])
                ServeSignals.exitNow(1)
            }
        }
        loader.name = "kiln.load"
        loader.start()
        dispatchMain()
    }
}

/// SIGTERM/SIGINT (drain and stop; a second one stops at once) and SIGHUP (reload), handled on
/// a Dispatch queue instead of inside a signal handler.
enum ServeSignals {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// Ends the process once the server has drained. `_exit` rather than `exit`: the model may
    /// still be loading on another thread, and running atexit handlers and static destructors
    /// under it can deadlock; the logs are flushed first and nothing else needs tearing down.
    static func exitNow(_ code: Int32) -> Never {
        fflush(stdout)
        fflush(stderr)
        _exit(code)
    }

    static func install(onTerminate: @escaping (_ forced: Bool) -> Void, onReload: @escaping () -> Void) {
        let queue = DispatchQueue(label: "kiln.signals")
        var terminations = 0
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                terminations += 1
                onTerminate(terminations > 1)
            }
            source.resume()
            sources.append(source)
        }
        signal(SIGHUP, SIG_IGN)
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        reload.setEventHandler(handler: onReload)
        reload.resume()
        sources.append(reload)
    }
}
