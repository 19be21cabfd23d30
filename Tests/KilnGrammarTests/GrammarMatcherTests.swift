import KilnGrammar
import KilnJSON
import Testing

@Suite struct GrammarMatcherTests {
    static let schemas: [String] = [
        #"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"type":"string","maxLength":8},"maxItems":4}},"required":["name","age"]}"#,
        #"{"type":"array","items":{"anyOf":[{"type":"number"},{"type":"boolean"},{"type":"null"}]},"minItems":1}"#,
        ##"{"$defs":{"t":{"type":"object","properties":{"v":{"enum":["a","b"]},"kids":{"type":"array","items":{"$ref":"#/$defs/t"},"maxItems":2}},"required":["v"]}},"$ref":"#/$defs/t"}"##,
        #"{"type":"string","pattern":"^[a-z]+(-[a-z0-9]+)*$"}"#,
    ]

    static func grammars() throws -> [Grammar] {
        var result = try schemas.map { try GrammarCompiler().compile(.jsonSchema(try JSONParser().parse($0))) }
        result.append(try GrammarCompiler().compile(.jsonObject))
        result.append(try Grammar(gbnf: #"root ::= "The answer is " ("yes" | "no" | [0-9]{1,3}) ".""#))
        return result
    }

    /// The mask equals, token for token over the whole vocabulary, what `canAccept` says, at every
    /// step of random walks (each step picks an allowed token with a fixed-seed generator).
    @Test func maskAgreesWithAcceptOverTheWholeVocabulary() throws {
        let loaded = GrammarTestSupport.qwen2
        var generator = SplitMix(seed: 7)
        for grammar in try Self.grammars() {
            let matcher = GrammarMatcher(grammar: grammar, vocabulary: loaded.vocabulary)
            for _ in 0..<6 {
                let mask = matcher.allowedTokens()
                var allowed: [Int32] = []
                for token in 0..<Int32(loaded.vocabulary.count) {
                    let inMask = GrammarTestSupport.isSet(mask, token)
                    #expect(inMask == matcher.canAccept(token: token), "token \(token) \(loaded.vocabulary.bytes(of: token))")
                    if inMask && !loaded.vocabulary.endOfSequenceTokens.contains(token) { allowed.append(token) }
                }
                guard !allowed.isEmpty else { break }
                #expect(matcher.accept(token: allowed[Int(generator.next() % UInt64(allowed.count))]))
            }
        }
    }

    /// The same, from states reached by fixed prefixes: inside strings (between characters, in the
    /// middle of one, after an escape), in a bounded string, in a number, between members.
    @Test func maskAgreesWithAcceptInsideStrings() throws {
        let loaded = GrammarTestSupport.qwen2
        let grammar = try Self.grammars()[0]
        let prefixes: [[UInt8]] = [
            Array(#"{"name": ""#.utf8), Array(#"{"name": "héllo wor"#.utf8), Array(#"{"name": "h"#.utf8) + [0xC3],
            Array(#"{"name": "a"#.utf8), Array(#"{"name": "x", "age": 1"#.utf8),
            Array(#"{"name": "x", "age": 12, "tags": ["ab"#.utf8), Array(#"{"name": "x", "age": 12"#.utf8),
            Array(#"{"name": "x", "age": 12, "tags": [""#.utf8), Array(#"{"name": "x", "age": 12, "tags": ["abcdefg"#.utf8),
            Array(#"{"name": "x", "age": 12, "tags": ["ab", "é"#.utf8), Array(#"{"name": "x", "age": 12, "tags": ["abcdefgh"#.utf8),
        ]
        for prefix in prefixes {
            let matcher = GrammarMatcher(grammar: grammar, vocabulary: loaded.vocabulary)
            #expect(matcher.accept(bytes: prefix))
            let mask = matcher.allowedTokens()
            var disagreements = 0
            var allowed = 0
            for token in 0..<Int32(loaded.vocabulary.count) {
                let inMask = GrammarTestSupport.isSet(mask, token)
                if inMask != matcher.canAccept(token: token) { disagreements += 1 }
                if inMask { allowed += 1 }
            }
            #expect(disagreements == 0, "\(String(decoding: prefix, as: UTF8.self)): \(disagreements) tokens disagree")
            #expect(allowed > 0)
        }
    }

    /// Text produced by walking a grammar with its masks is accepted again from the start, and text
    /// from a JSON Schema grammar parses as JSON.
    @Test func randomWalksProduceAcceptedText() throws {
        let loaded = GrammarTestSupport.qwen2
        var generator = SplitMix(seed: 11)
        var finished = 0
        for (index, grammar) in try Self.grammars().enumerated() {
            for _ in 0..<4 {
                let matcher = GrammarMatcher(grammar: grammar, vocabulary: loaded.vocabulary)
                var text: [UInt8] = []
                var ended = false
                for _ in 0..<120 {
                    let mask = matcher.allowedTokens()
                    var allowed: [Int32] = []
                    for word in 0..<mask.count where mask[word] != 0 {
                        var bits = mask[word]
                        while bits != 0 {
                            allowed.append(Int32(word * 64 + bits.trailingZeroBitCount))
                            bits &= bits - 1
                        }
                    }
                    #expect(!allowed.isEmpty)
                    if allowed.isEmpty { break }
                    // Prefer ending once possible, half of the time, so walks finish.
                    if matcher.canTerminate && generator.next() % 2 == 0 {
                        ended = matcher.accept(token: loaded.vocabulary.endOfSequenceTokens[0])
                        break
                    }
                    let choices = allowed.filter { !loaded.vocabulary.endOfSequenceTokens.contains($0) }
                    if choices.isEmpty {
                        ended = matcher.accept(token: allowed[0])
                        break
                    }
                    let token = choices[Int(generator.next() % UInt64(choices.count))]
                    #expect(matcher.accept(token: token))
                    text += loaded.vocabulary.bytes(of: token)
                }
                guard ended else { continue }
                finished += 1
                #expect(GrammarTestSupport.matches(grammar, text), "\(String(decoding: text, as: UTF8.self))")
                if index < Self.schemas.count + 1 {
                    #expect(throws: Never.self, "\(String(decoding: text, as: UTF8.self))") { try JSONParser().parse(text) }
                }
            }
        }
        #expect(finished >= 12)
    }

    @Test func acceptIsAllOrNothingAndEndsOnce() throws {
        let loaded = GrammarTestSupport.qwen2
        let grammar = try Grammar(gbnf: #"root ::= "ab" | "abc""#)
        let matcher = GrammarMatcher(grammar: grammar, vocabulary: loaded.vocabulary)
        #expect(!matcher.accept(bytes: Array("ax".utf8)))
        #expect(matcher.accept(bytes: Array("ab".utf8)))
        #expect(matcher.canTerminate && !matcher.isComplete)
        #expect(matcher.accept(bytes: Array("c".utf8)))
        #expect(matcher.isComplete)
        let eos = loaded.vocabulary.endOfSequenceTokens[0]
        #expect(matcher.accept(token: eos))
        #expect(matcher.isTerminated)
        #expect(!matcher.accept(token: eos))
        #expect(matcher.allowedTokens().allSatisfy { $0 == 0 })
    }

    @Test func longOutputsStayBoundedByCompaction() throws {
        var limits = GrammarLimits()
        limits.maxMatcherStates = 64
        let grammar = try Grammar(gbnf: #"root ::= ("[" root "]")* "x""#)
        let matcher = GrammarMatcher(grammar: grammar, limits: limits)
        for _ in 0..<2_000 { #expect(matcher.accept(bytes: Array("[".utf8))) }
        for _ in 0..<2_000 { #expect(matcher.accept(bytes: Array("x]".utf8))) }
        #expect(matcher.accept(bytes: Array("x".utf8)))
        #expect(matcher.canTerminate)
    }

    @Test func cacheReturnsCompiledGrammarsWithinItsBound() throws {
        let cache = GrammarCache(maxBytes: 200_000)
        let compiler = GrammarCompiler()
        for schema in Self.schemas { _ = try cache.grammar(for: .jsonSchema(try JSONParser().parse(schema)), compiler: compiler) }
        _ = try cache.grammar(for: .jsonSchema(try JSONParser().parse(Self.schemas[0])), compiler: compiler)
        let statistics = cache.statistics
        #expect(statistics.hits == 1 && statistics.misses == Self.schemas.count)
        #expect(statistics.bytes <= 200_000)
        let small = GrammarCache(maxBytes: 1)
        _ = try small.grammar(for: .anyJSONValue, compiler: compiler)
        #expect(small.statistics.entries == 0)
    }
}

/// A small deterministic generator (SplitMix64) so that random tests repeat exactly.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
