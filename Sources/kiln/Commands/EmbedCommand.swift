import ArgumentParser
import Foundation
import KilnJSON
import KilnTensor
import KilnText
import KilnTokenizer

/// `kiln embed`: texts to vectors with a sentence-transformers folder or a llama.cpp `bert` GGUF
/// file, printed as JSON; with
/// `--bench`, the encoder's speed on batches of short sentences.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the embedding vectors of texts as JSON (one array per input).",
        discussion: """
            Each argument is one input; with none, each line of standard input is one. Inputs \
            longer than the model takes are an error unless --truncate is given. With --bench, \
            measures the encoder instead: --bench-sentences short sentences (or the lines of \
            --bench-file) in batches of --bench-batch, --bench-runs times, and prints the median \
            sentences per second.
            """)

    @Option(name: .shortAndLong, help: "Sentence-transformers folder or llama.cpp bert GGUF file (default: all-MiniLM-L6-v2 from the model cache).")
    var model: String?

    @Option(help: "Kernel threads (0 = one per core).")
    var threads = 0

    @Flag(help: "Cut inputs longer than the model takes instead of failing.")
    var truncate = false

    @Flag(help: "Measure encoding speed instead of printing vectors.")
    var bench = false

    @Option(name: .customLong("bench-file"), help: "Benchmark on this file's lines instead of Kiln's own sentences.")
    var benchFile: String?

    @Option(name: .customLong("bench-sentences"), help: "Sentences per benchmark run.")
    var benchSentences = 512

    @Option(name: .customLong("bench-batch"), help: "Sentences per encoder pass in the benchmark.")
    var benchBatch = 64

    @Option(name: .customLong("bench-runs"), help: "Benchmark runs; the median is reported.")
    var benchRuns = 5

    @Argument(help: "The texts to embed.")
    var texts: [String] = []

    func validate() throws {
        guard threads >= 0, benchSentences >= 1, benchBatch >= 1, benchRuns >= 1 else {
            throw ValidationError("--threads must be >= 0 and the --bench-… counts >= 1")
        }
    }

    func run() throws {
        // Like `kiln generate`, fetches the default model (checksum-verified) on first need.
        let directory = try model ?? DefaultEmbeddingModel.fetchingPath()
        let kernels = KernelContext(threads: threads > 0 ? threads : KernelContext.onlineCores)
        let (encoder, tokenizer) = try EmbeddingModelLoading.load(path: directory, kernels: kernels)
        let inputs = texts.isEmpty ? Self.lines(of: FileHandle.standardInput.readDataToEndOfFile()) : texts
        let tokens = try inputs.enumerated().map { index, text in
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)  // as `EmbeddingService`
            guard let input = tokenizer.encoderInput(ids, limit: encoder.maxInputTokens, truncate: truncate) else {
                throw ValidationError("input \(index) is longer than the model's \(encoder.maxInputTokens) tokens (--truncate cuts it)")
            }
            return input
        }
        if bench { return try runBenchmark(encoder, tokenizer: tokenizer, threads: kernels.width, directory: directory) }
        var out = "["
        for (index, vector) in try encoder.embed(tokens).enumerated() {
            out += index == 0 ? "\n[" : ",\n["
            for (position, value) in vector.enumerated() {
                if position > 0 { out += "," }
                JSONValue.writeNumber(value, to: &out)
            }
            out += "]"
        }
        print(out + "\n]")
    }

    /// One input per line; an empty line is an empty input, and a last newline ends the last line.
    static func lines(of data: Data) -> [String] {
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    private func runBenchmark(_ encoder: SentenceEncoder, tokenizer: Tokenizer, threads: Int, directory: String) throws {
        var sentences = EmbeddingBenchmarkText.sentences(count: benchSentences)
        if let benchFile {
            guard let data = FileManager.default.contents(atPath: benchFile) else { throw ValidationError("cannot read --bench-file \(benchFile)") }
            sentences = Self.lines(of: data)
        }
        let batches = stride(from: 0, to: sentences.count, by: benchBatch).map { start in
            sentences[start..<min(sentences.count, start + benchBatch)].map {
                tokenizer.encoderInput(tokenizer.encode($0, addSpecial: false), limit: encoder.maxInputTokens, truncate: true)!
            }
        }
        let tokenCount = batches.joined().reduce(0) { $0 + $1.count }
        _ = try encoder.embed(batches[0])  // warm up: first-touch of the weights and buffers
        var seconds: [Double] = []
        for _ in 0..<benchRuns {
            let started = DispatchTime.now().uptimeNanoseconds
            for batch in batches { _ = try encoder.embed(batch) }
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        seconds.sort()
        let median = seconds[seconds.count / 2]
        print("model: \(directory) (\(encoder.configuration.layers) layers, width \(encoder.dimensions), \(threads) threads)")
        print("sentences: \(sentences.count) in batches of \(benchBatch), \(tokenCount) tokens with [CLS]/[SEP]")
        print(
            "runs: " + seconds.map { String(format: "%.3f s", $0) }.joined(separator: " ")
                + String(
                    format: "; median %.3f s = %.0f sentences/s, %.0f tokens/s", median, Double(sentences.count) / median, Double(tokenCount) / median
                ))
    }
}

/// Short English sentences for embedding benchmarks: the same list in every run and on every
/// machine (no randomness), with lengths like a search index's titles and questions.
enum EmbeddingBenchmarkText {
    static let subjects = [
        "The committee", "A small dog", "My neighbour", "The new library", "Our team", "The river",
        "A tired engineer", "The city council", "This recipe", "The old train",
    ]
    static let verbs = [
        "approved", "chased", "painted", "opened", "reviewed", "flooded", "fixed", "discussed", "needs", "crossed",
    ]
    static let objects = [
        "the budget for next year", "a red ball across the park", "the fence on Sunday", "its doors to the public",
        "the pull request before lunch", "the fields after the storm", "the broken server at midnight",
        "plans for a cycling lane", "two cups of flour", "the bridge in heavy snow",
    ]

    /// `count` sentences: every combination of subject, verb and object, in a fixed order.
    static func sentences(count: Int) -> [String] {
        (0..<count).map { index in
            let subject = subjects[index % subjects.count]
            let verb = verbs[(index / subjects.count) % verbs.count]
            let object = objects[(index / (subjects.count * verbs.count) + index) % objects.count]
            return "\(subject) \(verb) \(object)."
        }
    }
}
