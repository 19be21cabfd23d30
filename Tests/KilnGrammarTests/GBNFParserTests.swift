import KilnGrammar
import KilnJSON
import Testing

@Suite struct GBNFParserTests {
    /// Where Kiln deliberately differs from llama.cpp's parser: a marker of the grammar, and why.
    static let differences: [(marker: String, reason: String)] = [
        ("{0,5000}", "llama.cpp reads a maximum over its limit as unbounded; Kiln refuses it (GrammarLimits.maxRepetition)"),
        ("{3,5000}", "llama.cpp reads a maximum over its limit as unbounded; Kiln refuses it (GrammarLimits.maxRepetition)"),
        ("<[1000]>", "token references: Kiln's grammars are over bytes"),
        ("{0,99}){0,99}){0,99}", "llama.cpp refuses the exponential copies its expansion would make; Kiln's is linear"),
    ]

    @Test func llamaCppParserCasesParseOrFailAsThere() throws {
        guard case .array(let cases)? = try GrammarTestSupport.fixture("parser.json")["cases"] else {
            Issue.record("no cases")
            return
        }
        #expect(cases.count >= 20)
        var compared = 0
        for testCase in cases {
            guard case .string(let text)? = testCase["grammar"], case .bool(let parses)? = testCase["parses"] else { continue }
            if Self.differences.contains(where: { text.contains($0.marker) }) { continue }
            var error: GrammarError?
            do { _ = try Grammar(gbnf: text) } catch let caught { error = caught }
            #expect((error == nil) == parses, "\(text): \(String(describing: error))")
            compared += 1
        }
        #expect(compared >= 19)
    }

    /// The grammar llama.cpp refuses for its size compiles here, and its matcher stays bounded.
    @Test func deeplyNestedRepetitionsStayBounded() throws {
        let grammar = try Grammar(gbnf: "root ::= (((((([^x]*){0,99}){0,99}){0,99}){0,99}){0,99}){0,99}")
        var limits = GrammarLimits()
        limits.maxStacks = 64
        let matcher = GrammarMatcher(grammar: grammar, limits: limits)
        for _ in 0..<50 { _ = matcher.accept(bytes: Array("ab".utf8)) }
        #expect(!matcher.accept(bytes: Array("x".utf8)))
        // With few stacks allowed, the ambiguity is refused and says so instead of growing.
        #expect(matcher.exceededStackLimit)
    }

    @Test func errorsCarryLineAndColumn() {
        let cases: [(String, Int, Int)] = [
            ("root ::= \"a\"\nfoo ::= [a-z\n", 3, 1),  // the class runs to the end of the text
            ("root ::= \"abc", 1, 14),
            ("root ::= (\"a\" | \"b\"\n", 2, 1),
            ("root ::= \"a\"{3,1}", 1, 18),
            ("root ::= \"\\q\"", 1, 11),
            ("root ::= other", 1, 10),
            ("root = \"a\"", 1, 6),
            ("root ::= \"a\" *x", 1, 15),  // `x` is an undefined rule
        ]
        for (text, line, column) in cases {
            do {
                _ = try Grammar(gbnf: text)
                Issue.record("\(text) compiled")
            } catch .syntax(_, let gotLine, let gotColumn) {
                #expect(gotLine == line && gotColumn == column, "\(text): \(gotLine):\(gotColumn)")
            } catch {
                Issue.record("\(text): \(error)")
            }
        }
    }

    @Test func leftRecursionAndMissingRootAreErrors() throws {
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "root ::= root \"a\" | \"a\"") }
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "expr ::= \"a\"") }
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "root ::= \"a\" root") }  // no finite string
        // A nullable item repeated is fine (llama.cpp's "segfault" case).
        let nested = try Grammar(gbnf: "root ::= ( [x]* )*")
        #expect(GrammarTestSupport.matches(nested, Array("xxx".utf8)))
        #expect(!GrammarTestSupport.matches(nested, Array("xy".utf8)))
    }

    @Test func limitsAreEnforced() {
        var limits = GrammarLimits()
        limits.maxRepetition = 100
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "root ::= \"a\"{101}", limits: limits) }
        limits.maxCompiledElements = 1000
        limits.maxRepetition = 2000
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "root ::= (\"ab\" [a-z]){0,900}", limits: limits) }
        limits.maxDepth = 3
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "root ::= ((((\"a\"))))", limits: limits) }
    }

    @Test func unicodeClassesMatchWholeCharactersOnly() throws {
        let grammar = try Grammar(gbnf: "root ::= [A-Z€]+ | [α-ω] \"😀\"")
        let accepted: [[UInt8]] = [Array("ABC€".utf8), Array("λ😀".utf8)]
        let refused: [[UInt8]] = [Array("λ😁".utf8), [0xE2, 0x82], [0xC0, 0x80], [0xED, 0xA0, 0x80], Array("a".utf8)]
        for text in accepted {
            let matched = GrammarTestSupport.matches(grammar, text)
            #expect(matched, "\(text)")
        }
        // A different emoji, a character cut short, an overlong encoding, a surrogate, a letter.
        for text in refused {
            let matched = GrammarTestSupport.matches(grammar, text)
            #expect(!matched, "\(text)")
        }
    }
}
