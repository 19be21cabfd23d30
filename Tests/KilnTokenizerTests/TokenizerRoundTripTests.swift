import Foundation
import KilnTokenizer
import Testing

@Suite("Tokenizer round trips")
struct TokenizerRoundTripTests {
    static let samples = [
        "Hello, world!", " leading space", "trailing space ", "  two  spaces  ", "\n\n\tindented\r\n",
        "naïve café — “quotes” …", "Привет, мир!", "你好，世界！这是一个测试。", "こんにちは世界",
        "🚀🔥 emoji 👍🏽 and ZWJ 👨‍👩‍👧", "kāne ʻōlelo", "x = 3.14159 * 10**6", "<b>html</b> & <i>entities</i>",
        "mixed\u{00A0}no-break\u{2003}em-space", "\u{0007}bell\u{001B}[0m", "combining e\u{0301} and a\u{0308}",
        "🇫🇷 flags 🏳️‍🌈", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟙𝟚𝟛", "tab\tseparated\tvalues\n1\t2\t3",
    ]

    /// Every reference input and sample decodes back to itself, for all vocabularies.
    @Test(arguments: TokenizerFixtures.vocabularies)
    func referenceInputsRoundTrip(name: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(name)
        let inputs = try TokenizerFixtures.cases(name).map(\.text) + Self.samples
        for text in inputs {
            let ids = tokenizer.encode(text, addSpecial: false)
            #expect(tokenizer.decode(ids) == text, "\(name): \(text.debugDescription)")
        }
    }

    @Test func smolLM2RoundTrips() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        for text in try TokenizerFixtures.smolLM2Cases().map(\.text) + Self.samples {
            // Special tokens parsed from the text render back as the same text.
            let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
            #expect(tokenizer.decode(ids) == text, "\(text.debugDescription)")
        }
    }

    /// Random strings over a wide mix of scripts, symbols, whitespace and control characters.
    @Test(arguments: ["llama-bpe", "qwen2", "gpt-2", "llama-spm"])
    func randomTextRoundTrips(name: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(name)
        var generator = SplitMix64(seed: 0x5EED_0001)
        for _ in 0..<300 {
            let text = Self.randomText(&generator, length: Int(generator.next() % 60))
            let ids = tokenizer.encode(text, addSpecial: false)
            #expect(tokenizer.decode(ids) == text, "\(name): \(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// A hidden control token renders as nothing unless asked for.
    @Test func renderingOfControlTokens() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let ids = tokenizer.encode("<|im_start|>assistant\nHi<|im_end|>", addSpecial: false, parseSpecial: true)
        #expect(tokenizer.decode(ids) == "<|im_start|>assistant\nHi<|im_end|>")
        #expect(tokenizer.decode(ids, renderSpecial: false) == "assistant\nHi")
    }

    /// llama.cpp's clean-up of tokenization spaces applies only where the vocabulary asks for it.
    @Test func cleanUpOfSpaces() throws {
        let gpt2 = try TokenizerFixtures.tokenizer("gpt-2")
        #expect(gpt2.cleansUpSpaces)
        let ids = gpt2.encode("Hello , world ! It 's me ' here", addSpecial: false)
        #expect(gpt2.decode(ids) == "Hello , world ! It 's me ' here")
        #expect(gpt2.decode(ids, cleanUpSpaces: true) == "Hello, world! It's me'here")
        let smol = try TokenizerFixtures.smolLM2()
        #expect(!smol.cleansUpSpaces)
        #expect(smol.decode(smol.encode("a , b"), cleanUpSpaces: true) == "a , b")
    }

    @Test func idsOutOfRangeAreRejectedByValidate() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        #expect(throws: TokenizerError.tokenOutOfRange(id: 49152, vocabularySize: 49152)) {
            try tokenizer.validate([1, 49152])
        }
        #expect(throws: TokenizerError.tokenOutOfRange(id: -3, vocabularySize: 49152)) { try tokenizer.validate([-3]) }
        try tokenizer.validate([0, 49151])
        #expect(tokenizer.decode([-3, 49152]) == "")
    }

    /// One tokenizer serves many threads at once with the same results as one thread.
    @Test func concurrentEncodingAgrees() async throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let texts = (0..<16).map { index in
            String(repeating: Self.samples[index % Self.samples.count] + " \(index) ", count: 50)
        }
        let expected = texts.map { tokenizer.encode($0, addSpecial: false) }
        let results = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for (index, text) in texts.enumerated() {
                group.addTask { (index, tokenizer.encode(text, addSpecial: false)) }
            }
            var results = [[Int32]](repeating: [], count: texts.count)
            for await (index, ids) in group { results[index] = ids }
            return results
        }
        #expect(results == expected)
    }

    static let alphabet: [ClosedRange<UInt32>] = [
        0x20...0x7E, 0x20...0x7E, 0x20...0x7E, 0x09...0x0D, 0xA0...0x17F, 0x370...0x3FF, 0x400...0x4FF,
        0x590...0x6FF, 0x900...0x97F, 0xE00...0xE7F, 0x1780...0x17FF, 0x2000...0x206F, 0x3000...0x30FF,
        0x4E00...0x4FFF, 0xAC00...0xACFF, 0x1F300...0x1F6FF, 0x1D400...0x1D4FF, 0x0300...0x036F,
    ]

    static func randomText(_ generator: inout SplitMix64, length: Int) -> String {
        var scalars = String.UnicodeScalarView()
        while scalars.count < length {
            let range = alphabet[Int(generator.next() % UInt64(alphabet.count))]
            let value = range.lowerBound + UInt32(generator.next() % UInt64(range.count))
            if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
        }
        return String(scalars)
    }
}

/// A small seeded generator so that random tests repeat exactly.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
