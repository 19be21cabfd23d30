import ArgumentParser
import Foundation
import KilnText
import KilnTokenizer

/// `kiln tokenize`: text to token ids, as llama.cpp tokenizes it.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text (special tokens such as <|im_start|> are parsed).",
        discussion: """
            The text is the arguments joined by spaces, or standard input when there are none. \
            BOS/EOS are added only with --add-special. With --bench, measures encoding speed on \
            a large text instead (--bench-file, repeated, or text sampled from the vocabulary).
            """)

    @Option(name: .shortAndLong, help: "GGUF model or vocabulary file (default: the default model).")
    var model: String?

    @Flag(help: "Print the ids as a JSON array.")
    var json = false

    @Flag(name: .customLong("add-special"), help: "Add BOS/EOS where the vocabulary asks for them.")
    var addSpecial = false

    @Flag(help: "Measure tokenization speed instead of printing ids.")
    var bench = false

    @Option(name: .customLong("bench-file"), help: "Text file to benchmark on (repeated to --bench-mb).")
    var benchFile: String?

    @Option(name: .customLong("bench-mb"), help: "Size of the benchmark text in megabytes.")
    var benchMegabytes = 4

    @Argument(help: "The text to tokenize.")
    var text: [String] = []

    func validate() throws {
        guard (1...256).contains(benchMegabytes) else { throw ValidationError("--bench-mb must be in 1...256") }
    }

    func run() throws {
        let path = try DefaultModel.resolve(model)
        let started = DispatchTime.now().uptimeNanoseconds
        let tokenizer = try Tokenizer(modelAt: path)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        for warning in tokenizer.warnings { FileHandle.standardError.write(Data("kiln: warning: \(warning)\n".utf8)) }
        if bench {
            try runBenchmark(tokenizer, path: path, loadSeconds: loadSeconds)
            return
        }
        let input =
            text.isEmpty
            ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            : text.joined(separator: " ")
        let ids = tokenizer.encode(input, addSpecial: addSpecial, parseSpecial: true)
        let list = ids.map(String.init)
        print(json ? "[" + list.joined(separator: ",") + "]" : list.joined(separator: " "))
    }

    private func runBenchmark(_ tokenizer: Tokenizer, path: String, loadSeconds: Double) throws {
        var seedText: String?
        if let benchFile {
            guard let data = FileManager.default.contents(atPath: benchFile) else {
                throw ValidationError("cannot read --bench-file \(benchFile)")
            }
            seedText = String(decoding: data, as: UTF8.self)
        }
        let sample = TokenizerBenchmark.sampleText(tokenizer, byteCount: benchMegabytes * 1_000_000, seedText: seedText)
        let source = benchFile ?? "text sampled from the vocabulary"
        print("model: \(path)")
        print("tokenizer: \(tokenizer.summary); loaded in \(String(format: "%.0f", loadSeconds * 1000)) ms")
        print("text: \(source)")
        print("encode: \(TokenizerBenchmark.measure(tokenizer, text: sample))")
        var uncached = TokenizerLimits()
        uncached.wordCacheEntries = 0
        let withoutCache = try Tokenizer(modelAt: path, limits: uncached)
        print("encode without word cache: \(TokenizerBenchmark.measure(withoutCache, text: sample))")
    }
}

/// `kiln detokenize`: token ids back to text.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Print the text of token ids (special tokens shown as their text).")

    @Option(name: .shortAndLong, help: "GGUF model or vocabulary file (default: the default model).")
    var model: String?

    @Flag(name: .customLong("hide-special"), help: "Render control tokens such as <|im_end|> as nothing.")
    var hideSpecial = false

    @Argument(help: "Token ids, separated by spaces or commas (a JSON array works too).")
    var ids: [String] = []

    func run() throws {
        var parsed: [Int32] = []
        for argument in ids {
            for part in argument.split(whereSeparator: { ",[] \n\t".contains($0) }) {
                guard let id = Int32(part) else { throw ValidationError("'\(part)' is not a token id") }
                parsed.append(id)
            }
        }
        let tokenizer = try Tokenizer(modelAt: try DefaultModel.resolve(model))
        try tokenizer.validate(parsed)
        print(tokenizer.decode(parsed, renderSpecial: !hideSpecial))
    }
}
