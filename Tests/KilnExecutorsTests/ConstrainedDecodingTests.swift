import Foundation
import KilnExecutors
import KilnServe
import KilnText
import KilnTokenizer
import Testing

/// Output constraints through the real scheduler and `TransformerExecutor` on the default model
/// (SmolLM2): every sampled token is one the constraint allows, a complete constraint ends the
/// sequence with its stop token, and a constrained sequence leaves the others in the batch as
/// they would be alone.
@Suite(.serialized) struct ConstrainedDecodingTests {
    static let modelPath: String? = {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"], !path.isEmpty { return path }
        let cached = NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        return FileManager.default.fileExists(atPath: cached) ? cached : nil
    }()

    /// Allows tokens made only of ASCII digits, `length` of them, then only the end tokens.
    final class DigitsThenEnd: TokenConstraint {
        let digitTokens: [Int32], endTokens: [Int32], length: Int
        private(set) var accepted: [Int32] = []

        init(digitTokens: [Int32], endTokens: [Int32], length: Int) {
            (self.digitTokens, self.endTokens, self.length) = (digitTokens, endTokens, length)
        }

        func fillAllowedTokens(into mask: UnsafeMutableBufferPointer<UInt64>) {
            for index in mask.indices { mask[index] = 0 }
            for token in accepted.count < length ? digitTokens : endTokens { mask[Int(token) >> 6] |= 1 << UInt64(token & 63) }
        }

        func accept(token: Int32) -> Bool {
            let allowed = accepted.count < length ? digitTokens : endTokens
            guard allowed.contains(token) else { return false }
            accepted.append(token)
            return true
        }
    }

    struct DigitsSource: TokenConstraintSource {
        let digitTokens: [Int32], endTokens: [Int32], length: Int
        func makeConstraint() -> any TokenConstraint { DigitsThenEnd(digitTokens: digitTokens, endTokens: endTokens, length: length) }
    }

    /// Runs `requests` together through one scheduler; the tokens and finish reason of each.
    static func run(_ requests: [GenerationRequest], model: TransformerModel) throws -> [([Int32], FinishReason?)] {
        let settings = SchedulerSettings()
        let scheduler = try Scheduler(settings: settings, executor: TransformerExecutor(model: model, settings: settings))
        let results = Results(count: requests.count)
        for (index, request) in requests.enumerated() {
            _ = try scheduler.submit(request) { event in results.record(event, at: index) }
        }
        var iterations = 0
        while !results.allDone, iterations < 500 {
            _ = scheduler.runIteration()
            iterations += 1
        }
        return results.snapshot
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [([Int32], FinishReason?)]
        init(count: Int) { entries = Array(repeating: ([], nil), count: count) }
        func record(_ event: JobEvent, at index: Int) {
            lock.withLock {
                switch event {
                case .token(let token): entries[index].0.append(token.id)
                case .done(let completion): entries[index].1 = completion.reason
                default: break
                }
            }
        }
        var allDone: Bool { lock.withLock { entries.allSatisfy { $0.1 != nil } } }
        var snapshot: [([Int32], FinishReason?)] { lock.withLock { entries } }
    }

    @Test func constrainedTokensFollowTheConstraintAndEndWithItsStopToken() throws {
        let path = try #require(Self.modelPath, "the default model is missing: run Scripts/fetch-model.sh")
        let model = try TransformerModel(path: path, options: ModelOptions(threadCount: 2))
        let tokenizer = try Tokenizer(modelAt: path)
        let digits = (0..<Int32(model.configuration.vocabularySize)).filter { id in
            let bytes = tokenizer.pieceBytes(id, renderSpecial: false)
            return !bytes.isEmpty && bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        }
        #expect(digits.count >= 10)
        let ends = tokenizer.endOfGenerationTokens.sorted()
        let prompt = tokenizer.encode("My favourite animal is the", addSpecial: true)
        let source = DigitsSource(digitTokens: digits, endTokens: ends, length: 5)
        func request(_ seed: UInt64, constrained: Bool) -> GenerationRequest {
            GenerationRequest(
                promptTokens: prompt, maxNewTokens: 12, stopTokenIDs: Set(ends),
                sampling: TextSampling(parameters: SamplingParameters(temperature: 1, topK: 40, seed: seed), constraint: constrained ? source : nil))
        }
        let alone = try Self.run([request(7, constrained: false)], model: model)[0]
        let together = try Self.run([request(1, constrained: true), request(7, constrained: false), request(2, constrained: true)], model: model)
        for (tokens, reason) in [together[0], together[2]] {
            // Five digit tokens, then an end token (the scheduler delivers no event for the stop token).
            #expect(tokens.count == 5, "\(tokens)")
            #expect(tokens.allSatisfy { digits.contains($0) })
            #expect(reason == .stop)
        }
        // Unconstrained, the model does not answer in digits; beside constrained neighbours it
        // answers exactly as alone.
        #expect(!alone.0.allSatisfy { digits.contains($0) })
        #expect(together[1].0 == alone.0)
        #expect(together[1].1 == alone.1)
    }
}
