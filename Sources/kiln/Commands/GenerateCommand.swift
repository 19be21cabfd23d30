import ArgumentParser
import Foundation
import KilnText
import KilnTokenizer

/// `kiln generate`: continues a prompt with a language model, streaming the text.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a language model, streaming the text as it is generated.",
        discussion: """
            The prompt is tokenized with special tokens parsed (so a ChatML prompt with <|im_start|> works). \
            Generation stops after -n tokens or at an end-of-generation token. Temperature 0 is greedy; \
            otherwise a seed (random unless --seed is given) makes the output reproducible on any machine. \
            With --json, prints one object {"prompt_ids", "ids", "text", "timings", ...} instead of streaming.
            """)

    @Option(name: .shortAndLong, help: "GGUF model file (default: the default model, fetched on first need).")
    var model: String?

    @Option(name: .shortAndLong, help: "The prompt.")
    var prompt: String

    @Option(name: [.customShort("n"), .customLong("max-tokens")], help: "Tokens to generate at most.")
    var maxTokens = 128

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(name: .customLong("top-k"), help: "Keep the K most likely tokens (0: off).")
    var topK = 40

    @Option(name: .customLong("top-p"), help: "Nucleus: keep the most likely tokens up to this probability mass (1: off).")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), help: "Drop tokens below this fraction of the best one's probability (0: off).")
    var minP: Float = 0.05

    @Option(name: .customLong("repeat-penalty"), help: "Penalty on the last 64 tokens (1: off).")
    var repeatPenalty: Float = 1

    @Option(help: "Random seed (default: drawn from the clock, and printed).")
    var seed: UInt64?

    @Option(name: .shortAndLong, help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(name: .customLong("ignore-eos"), help: "Never end on an end-of-generation token: they are banned, as llama.cpp's --ignore-eos does.")
    var ignoreEOS = false

    @Flag(help: "Print one JSON object instead of streaming text.")
    var json = false

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("-n must be ≥ 0") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be in 1...256") }
    }

    func run() throws {
        let seed = self.seed ?? UInt64(DispatchTime.now().uptimeNanoseconds)
        var parameters = SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repeatPenalty, seed: seed)
        var options = ModelOptions()
        if let threads { options.threadCount = threads }
        let loaded = try ModelLoader.load(model, options: options, quiet: json)
        let model = loaded.model, tokenizer = loaded.tokenizer
        let vocabulary = model.configuration.vocabularySize
        // As llama.cpp: `--ignore-eos` bans the end-of-generation tokens rather than only not stopping on them.
        if ignoreEOS { parameters.ban(tokenizer.endOfGenerationTokens) }
        var sampler = try TokenSampler(parameters: parameters, vocabularySize: vocabulary)
        let workspace = SamplingWorkspace(vocabularySize: vocabulary)

        let promptIDs = tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
        guard !promptIDs.isEmpty else { throw ValidationError("the prompt is empty after tokenization") }
        guard promptIDs.count < model.contextLength else {
            throw ValidationError("the prompt has \(promptIDs.count) tokens; the context holds \(model.contextLength)")
        }
        let capacity = min(model.contextLength, promptIDs.count + maxTokens)
        let runner = try SequenceRunner(model: model, capacity: capacity)
        sampler.observe(promptIDs)

        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        var ids: [Int32] = []
        var text = ""
        var finishReason = "length"
        var decodeSteps = 0
        let promptStart = DispatchTime.now().uptimeNanoseconds
        var logits = try runner.feed(promptIDs)
        let promptEnd = DispatchTime.now().uptimeNanoseconds
        while ids.count < maxTokens {
            let token = try sampler.sample(logits: logits, workspace: workspace)
            if !ignoreEOS && tokenizer.isEndOfGeneration(token) {
                finishReason = "stop"
                break
            }
            ids.append(token)
            let piece = detokenizer.append(token)
            text += piece
            if !json { Self.write(piece) }
            guard ids.count < maxTokens, runner.length < runner.capacity else { break }
            logits = try runner.feed([token])
            decodeSteps += 1
        }
        let tail = detokenizer.finish()
        text += tail
        let end = DispatchTime.now().uptimeNanoseconds
        let promptSeconds = Double(promptEnd - promptStart) / 1e9
        // The first token comes from the prompt's logits; the speed counts the decode steps after it.
        let decodeSeconds = Double(end - promptEnd) / 1e9
        let timings = Timings(
            load_ms: loaded.loadSeconds * 1000, prompt_tokens: promptIDs.count,
            prompt_ms: promptSeconds * 1000,
            prompt_tokens_per_second: Double(promptIDs.count) / max(promptSeconds, 1e-9),
            generated_tokens: ids.count, generate_ms: decodeSeconds * 1000,
            generated_tokens_per_second: Double(decodeSteps) / max(decodeSeconds, 1e-9),
            resident_bytes: ModelLoader.residentBytes())
        if json {
            let output = Output(
                prompt_ids: promptIDs, ids: ids, text: text, finish_reason: finishReason, seed: seed,
                timings: timings)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        } else {
            Self.write(tail + "\n")
            ModelLoader.log(
                String(
                    format: "prompt: %d tokens in %.1f ms (%.1f tok/s) · generated: %d tokens in %.1f ms (%.1f tok/s) · seed %llu",
                    promptIDs.count, timings.prompt_ms, timings.prompt_tokens_per_second, ids.count,
                    timings.generate_ms, timings.generated_tokens_per_second, seed))
        }
    }

    private static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private struct Timings: Encodable {
        var load_ms: Double
        var prompt_tokens: Int
        var prompt_ms: Double
        var prompt_tokens_per_second: Double
        var generated_tokens: Int
        var generate_ms: Double
        var generated_tokens_per_second: Double
        var resident_bytes: Int?
    }

    private struct Output: Encodable {
        var prompt_ids: [Int32]
        var ids: [Int32]
        var text: String
        var finish_reason: String
        var seed: UInt64
        var timings: Timings
    }
}
