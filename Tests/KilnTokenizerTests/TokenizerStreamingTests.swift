import Foundation
import KilnTokenizer
import Testing

@Suite("Streaming detokenizer")
struct TokenizerStreamingTests {
    /// Feeds ids one at a time; every chunk must be clean text and together they give the whole.
    static func stream(_ ids: [Int32], _ tokenizer: Tokenizer, renderSpecial: Bool = true) -> (chunks: [String], heldBack: Int) {
        var stream = StreamingDetokenizer(tokenizer: tokenizer, renderSpecial: renderSpecial)
        var chunks: [String] = []
        var heldBack = 0
        for id in ids {
            chunks.append(stream.append(id))
            if stream.heldBackByteCount > 0 { heldBack += 1 }
        }
        chunks.append(stream.finish())
        return (chunks, heldBack)
    }

    /// A control token named in `renderedTokens` shows as text (as a tool-call syntax's
    /// `[TOOL_CALLS]` must); the others stay hidden without `renderSpecial`.
    @Test func renderedTokensShowThoughControl() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let ids = tokenizer.encode("<|im_start|>hi<|im_end|>", addSpecial: false, parseSpecial: true)
        #expect(ids.count == 3)
        var hidden = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(ids.map { hidden.append($0) }.joined() == "hi")
        var shown = StreamingDetokenizer(tokenizer: tokenizer)
        shown.renderedTokens = [ids[0]]
        #expect(ids.map { shown.append($0) }.joined() == "<|im_start|>hi")
    }

    @Test func byteLevelCharactersSplitAcrossTokens() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        for text in ["🚀🔥 emoji 👍🏽 and ZWJ 👨‍👩‍👧", "你好，世界！这是一个测试。", "こんにちは世界", "Привет, мир!"] {
            let ids = tokenizer.encode(text, addSpecial: false)
            let (chunks, heldBack) = Self.stream(ids, tokenizer)
            #expect(chunks.joined() == text)
            #expect(!chunks.joined().unicodeScalars.contains("\u{FFFD}"))
            // These texts put parts of one character in different tokens: the stream had to wait.
            #expect(heldBack > 0, "\(text)")
        }
    }

    @Test func sentencePieceByteTokensWaitForTheWholeCharacter() throws {
        let tokenizer = try TokenizerFixtures.tokenizer("llama-spm")
        // llama.cpp spells 🦙 with the byte tokens <0xF0> <0x9F> <0xA6> <0x99> (243 162 169 156).
        let ids = tokenizer.encode(" this is 🦙.cpp", addSpecial: false)
        #expect(ids == [29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223])
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        let chunks = ids.map { stream.append($0) }
        #expect(chunks == [" ", " this", " is", " ", "", "", "", "🦙", ".", "cpp"])
        #expect(stream.finish() == "")
    }

    @Test func firstSpaceOfSentencePieceCanBeDropped() throws {
        let tokenizer = try TokenizerFixtures.tokenizer("llama-spm")
        let ids = tokenizer.encode("Hello world", addSpecial: false)
        var stream = StreamingDetokenizer(tokenizer: tokenizer, stripsFirstSpace: true)
        #expect(ids.map { stream.append($0) }.joined() + stream.finish() == "Hello world")
        #expect(tokenizer.decode(ids) == "Hello world")
    }

    @Test func invalidBytesAreReplacedNotHeld() throws {
        let tokenizer = try TokenizerFixtures.tokenizer("llama-spm")
        // In this vocabulary <0x00> is id 3, so byte b is id 3 + b.
        func byteToken(_ byte: UInt8) -> Int32 {
            let id = Int32(3 + Int(byte))
            #expect(tokenizer.tokenText(id) == String(format: "<0x%02X>", byte))
            return id
        }
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        // A lone continuation byte can never become valid: replaced at once.
        #expect(stream.append(byteToken(0x80)) == "\u{FFFD}")
        // A lead byte waits; an ASCII byte after it shows it was broken.
        #expect(stream.append(byteToken(0xE4)) == "")
        #expect(stream.heldBackByteCount == 1)
        #expect(stream.append(byteToken(0x41)) == "\u{FFFD}A")
        // An overlong start (E0 80) is invalid as soon as the second byte arrives.
        #expect(stream.append(byteToken(0xE0)) == "")
        #expect(stream.append(byteToken(0x80)) == "\u{FFFD}\u{FFFD}")
        // An incomplete tail is flushed as a replacement character at the end.
        #expect(stream.append(byteToken(0xF0)) == "")
        #expect(stream.append(byteToken(0x9F)) == "")
        #expect(stream.finish() == "\u{FFFD}")
        #expect(stream.heldBackByteCount == 0)
    }

    @Test func controlTokensAreHiddenByDefault() throws {
        let tokenizer = try TokenizerFixtures.smolLM2()
        let ids = tokenizer.encode("Hi there<|im_end|>", addSpecial: false, parseSpecial: true)
        var hidden = StreamingDetokenizer(tokenizer: tokenizer)
        #expect(ids.map { hidden.append($0) }.joined() == "Hi there")
        var shown = StreamingDetokenizer(tokenizer: tokenizer, renderSpecial: true)
        #expect(ids.map { shown.append($0) }.joined() == "Hi there<|im_end|>")
    }

    /// Random texts streamed token by token equal the whole decode, for every vocabulary.
    @Test(arguments: TokenizerFixtures.vocabularies)
    func randomTextsStreamLikeTheyDecode(name: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(name)
        var generator = SplitMix64(seed: 0x5EED_0002)
        for _ in 0..<100 {
            let text = TokenizerRoundTripTests.randomText(&generator, length: 40)
            let ids = tokenizer.encode(text, addSpecial: false)
            var stream = StreamingDetokenizer(tokenizer: tokenizer, stripsFirstSpace: true)
            let streamed = ids.map { stream.append($0) }.joined() + stream.finish()
            #expect(streamed == tokenizer.decode(ids))
            #expect(streamed == text)
        }
    }
}
