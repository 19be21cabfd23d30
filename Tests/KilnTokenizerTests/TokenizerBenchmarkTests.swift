import Foundation
import KilnTokenizer
import Testing

/// Encoding speed, printed (never asserted) when `KILN_BENCH=1`. `KILN_BENCH_FILE` names a text
/// file to use besides the text sampled from each vocabulary. For figures to quote, run in release:
/// `KILN_BENCH=1 swift test -c release --filter TokenizerBenchmarkTests`.
@Suite(
    "Tokenizer benchmark", .enabled(if: ProcessInfo.processInfo.environment["KILN_BENCH"] == "1"),
    .serialized)
struct TokenizerBenchmarkTests {
    static var file: String? { ProcessInfo.processInfo.environment["KILN_BENCH_FILE"] }

    static func report(_ name: String, _ tokenizer: Tokenizer, megabytes: Int) {
        var texts = [("sampled from the vocabulary", TokenizerBenchmark.sampleText(tokenizer, byteCount: megabytes * 1_000_000))]
        if let file, let data = FileManager.default.contents(atPath: file) {
            let seed = String(decoding: data, as: UTF8.self)
            texts.append((file, TokenizerBenchmark.sampleText(tokenizer, byteCount: megabytes * 1_000_000, seedText: seed)))
        }
        for (source, text) in texts {
            let result = TokenizerBenchmark.measure(tokenizer, text: text)
            print("tokenizer benchmark \(name), \(source): \(result)")
        }
    }

    @Test func smolLM2() throws {
        let started = Date()
        let tokenizer = try Tokenizer(modelAt: TokenizerFixtures.defaultModelPath())
        print("tokenizer benchmark smollm2: loaded in \(Int(Date().timeIntervalSince(started) * 1000)) ms")
        Self.report("smollm2", tokenizer, megabytes: 8)
    }

    @Test(arguments: TokenizerFixtures.vocabularies)
    func vocabulary(name: String) throws {
        let started = Date()
        let tokenizer = try Tokenizer(modelAt: TokenizerFixtures.vocabularyPath(name))
        print("tokenizer benchmark \(name): loaded in \(Int(Date().timeIntervalSince(started) * 1000)) ms")
        // SentencePiece merges a whole fragment at once (no pre-splitting), so keep its text smaller.
        Self.report(name, tokenizer, megabytes: tokenizer.kind == .sentencePiece ? 1 : 4)
    }

    /// WordPiece from both sources: llama.cpp's bert-bge GGUF and all-MiniLM-L6-v2's tokenizer.json.
    @Test(arguments: [WordPieceFixtures.bertBGEPath, WordPieceFixtures.miniLMPath])
    func wordPiece(path: String) throws {
        let started = Date()
        let tokenizer = try path.hasSuffix(".json") ? Tokenizer(huggingFaceJSONAt: path) : Tokenizer(modelAt: path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        print("tokenizer benchmark \(name): loaded in \(Int(Date().timeIntervalSince(started) * 1000)) ms")
        Self.report(name, tokenizer, megabytes: 4)
    }
}
