import KilnGrammar
import KilnJSON
import Testing

/// llama.cpp's test-grammar-integration.cpp cases (grammars and schemas with passing and failing
/// strings), from Tests/Fixtures/grammar/integration.json.
@Suite struct LlamaCppIntegrationTests {
    struct Case {
        let description: String
        let grammar: Grammar
        let passing: [[UInt8]]
        let failing: [[UInt8]]
    }

    /// Schema cases whose expectations Kiln does not share, with the reason (none at present).
    static let differences: [String: String] = [:]

    static func cases() throws -> [Case] {
        guard case .array(let cases)? = try GrammarTestSupport.fixture("integration.json")["cases"] else { return [] }
        let compiler = GrammarCompiler()
        var result: [Case] = []
        for testCase in cases {
            guard case .string(let description)? = testCase["description"],
                case .array(let passing)? = testCase["passing"], case .array(let failing)? = testCase["failing"]
            else { continue }
            let grammar: Grammar
            if case .string(let text)? = testCase["grammar"] {
                grammar = try Grammar(gbnf: text)
            } else if let schema = testCase["schema"] {
                grammar = try compiler.compile(.jsonSchema(schema))
            } else {
                continue
            }
            result.append(
                Case(
                    description: description, grammar: grammar, passing: passing.map(GrammarTestSupport.bytes),
                    failing: failing.map(GrammarTestSupport.bytes)))
        }
        return result
    }

    @Test func passingStringsMatchByteByByteAndFailingOnesDoNot() throws {
        let cases = try Self.cases()
        #expect(cases.count >= 40)
        var checked = 0
        for testCase in cases where Self.differences[testCase.description] == nil {
            for passing in testCase.passing {
                let matched = GrammarTestSupport.matches(testCase.grammar, passing)
                #expect(matched, "\(testCase.description): should match \(String(decoding: passing, as: UTF8.self))")
                checked += 1
            }
            for failing in testCase.failing {
                let matched = GrammarTestSupport.matches(testCase.grammar, failing)
                #expect(!matched, "\(testCase.description): should not match \(String(decoding: failing, as: UTF8.self))")
                checked += 1
            }
        }
        #expect(checked > 300)
    }

    /// Each passing string, tokenized by Qwen2's tokenizer, is allowed token by token by the mask,
    /// accepted, and may end (the end-of-sequence token allowed) at the end.
    @Test func passingStringsAreAllowedTokenByTokenOnQwen2() throws {
        let loaded = GrammarTestSupport.qwen2
        for testCase in try Self.cases() where Self.differences[testCase.description] == nil {
            for passing in testCase.passing {
                guard let text = String(validating: passing, as: UTF8.self) else { continue }
                let tokens = loaded.tokenizer.encode(text, addSpecial: false)
                let matcher = GrammarMatcher(grammar: testCase.grammar, vocabulary: loaded.vocabulary)
                var ok = true
                for token in tokens {
                    let mask = matcher.allowedTokens()
                    if !GrammarTestSupport.isSet(mask, token) || !matcher.accept(token: token) {
                        ok = false
                        break
                    }
                }
                #expect(ok, "\(testCase.description): \(text) as tokens \(tokens)")
                let eos = loaded.vocabulary.endOfSequenceTokens[0]
                #expect(!ok || GrammarTestSupport.isSet(matcher.allowedTokens(), eos))
                #expect(!ok || matcher.accept(token: eos))
            }
        }
    }

    @Test func grammarsLlamaCppRefusesAreRefused() throws {
        guard case .array(let failures)? = try GrammarTestSupport.fixture("integration.json")["build_failures"] else {
            Issue.record("no build failures")
            return
        }
        #expect(failures.count >= 5)
        for failure in failures {
            guard case .string(let text)? = failure["grammar"] else { continue }
            #expect(throws: GrammarError.self, "\(text)") { try Grammar(gbnf: text) }
        }
    }
}
