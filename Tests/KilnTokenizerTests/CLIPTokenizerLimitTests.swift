import Foundation
import KilnTokenizer
import Testing

/// A hostile prompt costs the tokenizer little: the shared BPE merges a long word in O(n log n)
/// (a heap of candidate merges, never a rescan per merge), and encoding stops at the tokens the
/// text encoder keeps.
@Suite struct CLIPTokenizerLimitTests {
    static let tokenizer: CLIPTokenizer = try! CLIPTokenizer(
        directory: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/diffusion/tiny-sd/tokenizer").path)

    @Test func aHugeWordIsEncodedQuicklyAndTruncated() throws {
        // One word of 200 000 letters, and one grapheme of 100 000 combining marks.
        for text in [String(repeating: "ab", count: 100_000), "a" + String(repeating: "\u{301}", count: 100_000)] {
            let started = Date()
            let ids = Self.tokenizer.encode(text)
            let seconds = Date().timeIntervalSince(started)
            #expect(ids.count == Self.tokenizer.maxLength)
            #expect(Self.tokenizer.tokens(text, limit: 5).count == 5)
            // Generous: quadratic BPE over the whole word took minutes.
            #expect(seconds < 5, "took \(seconds) s")
        }
    }

    @Test func ordinaryPromptsAreUnchangedByTheLimit() {
        let prompt = "a photograph of an astronaut riding a horse on the moon"
        let all = Self.tokenizer.tokens(prompt)
        #expect(Self.tokenizer.tokens(prompt, limit: 3) == Array(all.prefix(3)))
        #expect(Self.tokenizer.tokens(prompt, limit: 1000) == all)
    }

    /// Words of any length merge whole, as Hugging Face `tokenizers` does (ids from
    /// Scripts/fixtures/make-clip-long-words.py; see Tests/Fixtures/diffusion/PROVENANCE.md).
    @Test func longWordsGiveTheReferenceIDs() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/diffusion/clip-long-words.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        #expect(cases.count >= 7)
        for entry in cases {
            let text = try #require(entry["text"] as? String)
            #expect(Self.tokenizer.tokens(text) == entry["ids"] as? [Int], "\(text)")
        }
    }
}
