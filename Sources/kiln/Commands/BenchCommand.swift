import ArgumentParser
import Foundation
import KilnTensor
import KilnText

/// `kiln bench`: prompt-processing and generation speed, in the manner of `llama-bench`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill (prompt processing) and decode (generation) speed in tokens per second.",
        discussion: """
            Like llama-bench: ppN processes N prompt tokens in one batch from an empty context; tgN \
            generates N tokens one at a time from an empty context. Tokens are drawn from a fixed \
            seeded generator. After one warm-up run, each test runs -r times; the median, mean, \
            standard deviation and range are printed (with --json, one object whose \
            prefill_tokens_per_second and decode_tokens_per_second are the medians).
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: the default model).")
    var model: String?

    @Option(name: [.customShort("p"), .customLong("prompt-tokens")], help: "Prompt tokens per prefill run (0: skip).")
    var promptTokens = 512

    @Option(name: [.customShort("n"), .customLong("generate-tokens")], help: "Tokens per decode run (0: skip).")
    var generateTokens = 128

    @Option(name: .shortAndLong, help: "Threads (default: all cores).")
    var threads: Int?

    @Option(name: .shortAndLong, help: "Repetitions of each test.")
    var repeats = 5

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(name: .customLong("no-avx512"), help: "Use the AVX2 kernel bodies even where the CPU has AVX-512 (for comparisons).")
    var noAVX512 = false

    func validate() throws {
        guard (0...65_536).contains(promptTokens) else { throw ValidationError("-p must be in 0...65536") }
        guard (0...65_536).contains(generateTokens) else { throw ValidationError("-n must be in 0...65536") }
        guard promptTokens + generateTokens > 0 else { throw ValidationError("nothing to measure: -p and -n are 0") }
        guard (1...1000).contains(repeats) else { throw ValidationError("-r must be in 1...1000") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be in 1...256") }
    }

    func run() throws {
        if noAVX512 { Matmul.wideVectorsEnabled = false }
        var options = ModelOptions(maximumBatchTokens: max(1, min(promptTokens, 4096)), maximumLogitRows: 1)
        if let threads { options.threadCount = threads }
        let loaded = try ModelLoader.load(model, options: options, quiet: json)
        let model = loaded.model
        let capacity = max(promptTokens, generateTokens)
        guard capacity <= model.contextLength else {
            throw ValidationError("\(capacity) tokens exceed the model's context of \(model.contextLength)")
        }
        let runner = try SequenceRunner(model: model, capacity: capacity)
        var generator = SeededRandomGenerator(seed: 1234)
        let vocabulary = UInt64(model.configuration.vocabularySize)
        let tokens = (0..<capacity).map { _ in Int32(truncatingIfNeeded: generator.next() % vocabulary) }

        func prefill() throws -> Double {
            runner.reset()
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try runner.feed(tokens.prefix(promptTokens))
            return Double(promptTokens) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        func decode() throws -> Double {
            runner.reset()
            let start = DispatchTime.now().uptimeNanoseconds
            for token in tokens.prefix(generateTokens) { _ = try runner.feed(CollectionOfOne(token)) }
            return Double(generateTokens) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        // Warm-up: caches, page faults and worker threads.
        if promptTokens > 0 { _ = try prefill() }
        if generateTokens > 0 { _ = try decode() }
        var prefillRates: [Double] = [], decodeRates: [Double] = []
        for _ in 0..<repeats {
            if promptTokens > 0 { prefillRates.append(try prefill()) }
            if generateTokens > 0 { decodeRates.append(try decode()) }
        }
        let prefillStats = promptTokens > 0 ? Statistics(prefillRates) : nil
        let decodeStats = generateTokens > 0 ? Statistics(decodeRates) : nil
        if json {
            try printJSON(model: model, prefill: prefillStats, decode: decodeStats)
        } else {
            printTable(model: model, prefill: prefillStats, decode: decodeStats)
        }
    }

    private func printTable(model: TransformerModel, prefill: Statistics?, decode: Statistics?) {
        let summary = model.summary
        let name = "\(summary.architecture.rawValue) \(summary.tensorTypes.first?.type ?? "")"
        let size = String(format: "%.2f MiB", Double(summary.fileByteCount) / 1_048_576)
        let parameters = String(format: "%.2f M", Double(summary.parameterCount) / 1e6)
        print("| model | size | params | threads | test | t/s (median ± sd) | min – max |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for (test, stats) in [("pp\(promptTokens)", prefill), ("tg\(generateTokens)", decode)] {
            guard let stats else { continue }
            print(
                String(
                    format: "| %@ | %@ | %@ | %d | %@ | %.2f ± %.2f | %.2f – %.2f |", name, size, parameters,
                    model.pool.threadCount, test, stats.median, stats.standardDeviation, stats.minimum,
                    stats.maximum))
        }
    }

    private func printJSON(model: TransformerModel, prefill: Statistics?, decode: Statistics?) throws {
        struct Output: Encodable {
            var model: String
            var architecture: String
            var file_bytes: Int
            var parameters: Int
            var threads: Int
            var repeats: Int
            var prompt_tokens: Int
            var generate_tokens: Int
            var prefill_tokens_per_second: Double?
            var decode_tokens_per_second: Double?
            var prefill: Statistics?
            var decode: Statistics?
            var resident_bytes: Int?
        }
        let summary = model.summary
        let output = Output(
            model: summary.name, architecture: summary.architecture.rawValue,
            file_bytes: summary.fileByteCount, parameters: summary.parameterCount,
            threads: model.pool.threadCount, repeats: repeats, prompt_tokens: promptTokens,
            generate_tokens: generateTokens, prefill_tokens_per_second: prefill?.median,
            decode_tokens_per_second: decode?.median, prefill: prefill, decode: decode,
            resident_bytes: ModelLoader.residentBytes())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(output), as: UTF8.self))
    }

    /// Median, mean, standard deviation and range of tokens-per-second samples.
    struct Statistics: Encodable {
        var median: Double
        var mean: Double
        var standardDeviation: Double
        var minimum: Double
        var maximum: Double
        var samples: [Double]

        init(_ samples: [Double]) {
            let sorted = samples.sorted()
            let count = Double(sorted.count)
            median =
                sorted.count % 2 == 1
                ? sorted[sorted.count / 2]
                : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            let average = sorted.reduce(0, +) / count
            mean = average
            let variance =
                sorted.count > 1
                ? sorted.reduce(0) { $0 + ($1 - average) * ($1 - average) } / (count - 1) : 0
            standardDeviation = variance.squareRoot()
            minimum = sorted.first ?? 0
            maximum = sorted.last ?? 0
            self.samples = samples
        }

        enum CodingKeys: String, CodingKey {
            case median, mean, samples
            case standardDeviation = "stddev"
            case minimum = "min"
            case maximum = "max"
        }
    }
}
