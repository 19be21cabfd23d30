/// Every setting of `kiln serve`, resolved from defaults < config file < environment < flags.
struct ServeSettings: Equatable {
    var host = "127.0.0.1"
    var port = 8080
    var ioQueues = 0
    var eventMechanism = "dispatch"
    var listenBacklog = 511
    var listenAfterLoad = false

    var maxConnections = 1024
    var maxBodyBytes = 16 * 1024 * 1024
    var maxHeaderBytes = 32 * 1024
    var maxHeaderCount = 100
    var maxTargetBytes = 8 * 1024
    var maxChunkLineBytes = 1024
    var maxBufferedOutputBytes = 8 * 1024 * 1024
    var maxRequestIDBytes = 128

    var headerReadTimeout = 10.0
    var bodyIdleTimeout = 30.0
    var keepAliveTimeout = 60.0
    var sendTimeout = 30.0
    var handshakeTimeout = 10.0
    var lingerTimeout = 2.0
    var shutdownGracePeriod = 30.0

    var apiKeys: [String] = []
    var corsAllowedOrigins: [String] = []

    var tlsCert = ""
    var tlsKey = ""

    var gzip = true
    var gzipMinBytes = 1024
    var gzipLevel = 6
    var gzipRequests = true

    var model: [String] = []
    var modelName = ""
    var modelsDir = ""
    var memoryBudgetMB = 0

    var threads = 0
    var contextLength = 0
    var kvBlocks = 512
    var kvBlockSize = 16
    var maxBatchSequences = 16
    var maxBatchTokens = 256
    var queueCapacity = 256

    var maxN = 8
    var defaultMaxTokens = 512
    var requestTimeout = 600.0
    var grammarMaxBytes = 1_048_576
    var grammarMaxSchemaNodes = 20000
    var grammarMaxDepth = 64
    var grammarMaxCompiledElements = 500000
    var grammarCacheMB = 64

    var imageModel = ""
    var imageModelName = ""
    var ganModel = ""
    var hybridModel = ""
    var imageMaxN = 4
    var imageMaxSide = 1024
    var imageMaxSteps = 150
    var imageDefaultSteps = 20
    var imagePreviewInterval = 5
    var imageMaxBatch = 4
    var imageMaxRunning = 8
    var imageOverlap = true
    var imageThreads = 0
    var computeSharing = "text_first"
    var imageThreadsBesideText = 0
    var winogradTiles = 64
    var winograd4Tiles = 64
    var packBuffersMb = 128

    var embeddingModel = ""
    var textModelPooling = "none"
    var embeddingModelName = ""
    var embeddingMaxInputs = 2048
    var embeddingMaxRequestTokens = 300_000
    var embeddingMaxRunning = 64
    var embeddingPassTokens = 512
    var embeddingPassTokensBesideText = 64
    var embeddingRowsPerIteration = 1536
    var embeddingRowsPerIterationBesideText = 16

    var logFormat = "text"
    var logLevel = "info"
    var accessLog = true
}

/// One setting: where it lives in the file, its environment variable and flag, and its meaning.
struct ConfigSetting: Sendable {
    enum Binding: Sendable {
        case string(WritableKeyPath<ServeSettings, String> & Sendable)
        case integer(WritableKeyPath<ServeSettings, Int> & Sendable)
        case double(WritableKeyPath<ServeSettings, Double> & Sendable)
        case bool(WritableKeyPath<ServeSettings, Bool> & Sendable)
        case strings(WritableKeyPath<ServeSettings, [String]> & Sendable)
    }

    /// `section.name` in the TOML file.
    let key: String
    let binding: Binding
    let help: String

    var name: String { String(key.split(separator: ".").last!) }
    /// `--max-body-bytes` for `limits.max_body_bytes`.
    var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }
    /// `KILN_MAX_BODY_BYTES` for `limits.max_body_bytes`.
    var environmentVariable: String { "KILN_" + name.uppercased() }

    func value(in settings: ServeSettings) -> ConfigValue {
        switch binding {
        case .string(let path): return .string(settings[keyPath: path])
        case .integer(let path): return .integer(settings[keyPath: path])
        case .double(let path): return .double(settings[keyPath: path])
        case .bool(let path): return .bool(settings[keyPath: path])
        case .strings(let path): return .array(settings[keyPath: path].map { .string($0) })
        }
    }

    /// Stores `value`, converting integers to floats where a float is expected.
    func apply(_ value: ConfigValue, to settings: inout ServeSettings, source: String) throws {
        switch (binding, value) {
        case (.string(let path), .string(let text)): settings[keyPath: path] = text
        case (.integer(let path), .integer(let number)): settings[keyPath: path] = number
        case (.double(let path), .double(let number)): settings[keyPath: path] = number
        case (.double(let path), .integer(let number)): settings[keyPath: path] = Double(number)
        case (.bool(let path), .bool(let flag)): settings[keyPath: path] = flag
        case (.strings(let path), .string(let text)):
            // A single string where a list is expected (`model = "a.gguf"`, as before lists).
            settings[keyPath: path] = text.isEmpty ? [] : [text]
        case (.strings(let path), .array(let elements)):
            settings[keyPath: path] = try elements.map { element in
                guard case .string(let text) = element else { throw ConfigError("\(source): \(key) takes strings") }
                return text
            }
        default:
            throw ConfigError("\(source): \(key) has the wrong type (\(value))")
        }
    }

    /// Parses an environment variable's text; lists are comma-separated.
    func parseEnvironment(_ text: String) throws -> ConfigValue {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch binding {
        case .string: return .string(text)
        case .integer:
            guard let number = Int(trimmed) else { throw ConfigError("\(environmentVariable): '\(text)' is not an integer") }
            return .integer(number)
        case .double:
            guard let number = Double(trimmed), number.isFinite else {
                throw ConfigError("\(environmentVariable): '\(text)' is not a number")
            }
            return .double(number)
        case .bool:
            switch trimmed.lowercased() {
            case "1", "true", "yes", "on": return .bool(true)
            case "0", "false", "no", "off": return .bool(false)
            default: throw ConfigError("\(environmentVariable): '\(text)' is not a boolean")
            }
        case .strings:
            return .array(
                trimmed.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }
                    .filter { $0 != .string("") })
        }
    }

    /// Help for `kiln serve --help`: meaning, environment variable, file key and default.
    var helpText: String {
        let defaultValue = value(in: ServeSettings())
        return "\(help) [env \(environmentVariable); config \(key); default \(defaultValue)]"
    }
}
