import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Measures encoding speed, for `kiln tokenize --bench` and the opt-in benchmark test.
///
/// Benchmarks print figures; nothing asserts on time.
public enum TokenizerBenchmark {
    /// One measurement of `encode` over a text.
    public struct Result: Sendable, CustomStringConvertible {
        public var bytes: Int
        public var tokens: Int
        /// Wall-clock seconds of every pass, sorted.
        public var seconds: [Double]
        /// CPU seconds of the encoding thread in every pass, sorted: on a busy machine this is
        /// the fairer measure, since waiting for a core is not tokenizing.
        public var cpuSeconds: [Double]

        public var medianSeconds: Double { seconds[seconds.count / 2] }
        public var medianCPUSeconds: Double { cpuSeconds[cpuSeconds.count / 2] }
        public var megabytesPerSecond: Double { Double(bytes) / 1e6 / medianSeconds }
        public var megabytesPerCPUSecond: Double { Double(bytes) / 1e6 / medianCPUSeconds }
        public var tokensPerCPUSecond: Double { Double(tokens) / medianCPUSeconds }

        public var description: String {
            String(
                format: "%.2f MB -> %d tokens, median of %d: %.1f MB/s of CPU time (%.2f M tokens/s), %.1f MB/s wall",
                Double(bytes) / 1e6, tokens, seconds.count, megabytesPerCPUSecond, tokensPerCPUSecond / 1e6,
                megabytesPerSecond)
        }
    }

    /// CPU time consumed by the calling thread.
    static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Encodes `text` `repeats` times (each call starts with an empty word cache).
    public static func measure(
        _ tokenizer: Tokenizer, text: String, repeats: Int = 3,
        parseSpecial: Bool = true
    ) -> Result {
        var seconds: [Double] = []
        var cpuSeconds: [Double] = []
        var tokens = 0
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            let cpuStart = threadCPUSeconds()
            tokens = tokenizer.encode(text, addSpecial: false, parseSpecial: parseSpecial).count
            cpuSeconds.append(threadCPUSeconds() - cpuStart)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Result(bytes: text.utf8.count, tokens: tokens, seconds: seconds.sorted(), cpuSeconds: cpuSeconds.sorted())
    }

    /// About `byteCount` bytes of text: `seedText` repeated, or, without one, pseudo-random
    /// sentences of tokens drawn from the vocabulary itself (a hard case for the word cache,
    /// since most words are rare). Deterministic for a given `seed`.
    public static func sampleText(
        _ tokenizer: Tokenizer, byteCount: Int, seedText: String? = nil,
        seed: UInt64 = 1
    ) -> String {
        if let seedText, !seedText.isEmpty {
            var text = ""
            text.reserveCapacity(byteCount + seedText.utf8.count)
            while text.utf8.count < byteCount { text += seedText }
            return text
        }
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var value = state
            value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
            value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
            return value ^ (value >> 31)
        }
        let normal = (0..<Int32(tokenizer.vocabularySize)).filter { tokenizer.attributes(of: $0) == .normal }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount + 64)
        while bytes.count < byteCount {
            // Favour low ids, which in BPE vocabularies are the frequent ones, as in real text.
            let range = UInt64(normal.count) >> (next() % 6)
            tokenizer.appendPiece(normal[Int(next() % max(range, 1))], to: &bytes)
            switch next() % 40 {
            case 0: bytes.append(contentsOf: ". ".utf8)
            case 1: bytes.append(contentsOf: "\n\n".utf8)
            case 2: bytes.append(contentsOf: ", ".utf8)
            case 3: bytes.append(contentsOf: " \(next() % 100_000) ".utf8)
            case 4...20: bytes.append(0x20)
            default: break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
