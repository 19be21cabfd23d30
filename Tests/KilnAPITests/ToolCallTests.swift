import Foundation
import KilnGrammar
import KilnJSON
import Testing

@testable import KilnAPI

/// Tool calls: each family's syntax recognised from its real template, the call grammar of each
/// syntax accepting exactly its calls, the parser following answers however they are split, and
/// the request checks.
@Suite struct ToolCallTests {
    static let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/chat-templates/templates")

    static let weather: JSONValue = [
        "type": "object", "required": ["city"],
        "properties": ["city": ["type": "string"], "unit": ["type": "string", "enum": ["celsius", "fahrenheit"]]],
    ]

    static func tools(_ choice: ToolChoice = .required, parallel: Bool = true) -> ToolRequest {
        ToolRequest(
            functions: [
                ToolFunction(name: "get_weather", parameters: weather, strict: false),
                ToolFunction(name: "get_time", parameters: ["type": "object", "properties": [:]], strict: false),
            ], choice: choice, parallelCalls: parallel, templateTools: [])
    }

    // MARK: Recognition

    @Test(arguments: [
        ("Qwen-Qwen2.5-7B-Instruct.jinja", ToolCallSyntax.hermes),
        ("Qwen-Qwen3-0.6B.jinja", .hermes),
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", .hermes),
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", .hermes),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", .llama3),
        ("meta-llama-Llama-3.3-70B-Instruct.jinja", .llama3),
        ("mistralai-Mistral-Nemo-Instruct-2407.jinja", .mistral),
        ("HuggingFaceTB-SmolLM2-135M-Instruct.jinja", .generic),
        ("google-gemma-2-2b-it.jinja", .generic),
    ])
    func syntaxIsRecognisedFromTheTemplate(file: String, syntax: ToolCallSyntax) throws {
        let source = try String(contentsOf: Self.templates.appendingPathComponent(file), encoding: .utf8)
        #expect(ToolCallSyntax.detect(templateSource: source) == syntax)
    }

    // MARK: Grammar

    /// A complete answer of two calls in `syntax`'s frame.
    static func twoCalls(_ syntax: ToolCallSyntax) -> String {
        let frame = syntax.frame
        let first = frame.callStart + "get_weather" + frame.nameEnd + #"{"city": "Paris", "unit": "celsius"}"# + frame.callEnd
        let second = frame.callStart + "get_time" + frame.nameEnd + "{}" + frame.callEnd
        return frame.open + first + frame.separator + second + frame.close
    }

    func matcher(_ syntax: ToolCallSyntax, _ tools: ToolRequest) throws -> GrammarMatcher {
        GrammarMatcher(grammar: try GrammarCompiler().compile(syntax.grammar(for: tools)))
    }

    @Test(arguments: [ToolCallSyntax.hermes, .mistral, .generic])
    func callGrammarAcceptsCallsAndRefusesOthers(syntax: ToolCallSyntax) throws {
        let complete = try matcher(syntax, Self.tools())
        #expect(complete.accept(string: Self.twoCalls(syntax)))
        #expect(complete.canTerminate)
        // Parallel calls off, or one named function: the first call ends the answer.
        let single = try matcher(syntax, Self.tools(parallel: false))
        #expect(!single.accept(string: Self.twoCalls(syntax)))
        let named = try matcher(syntax, Self.tools(.function("get_time")))
        let frame = syntax.frame
        #expect(!named.accept(string: frame.open + frame.callStart + "get_weather"))
        // Arguments outside the schema: a missing required member, an enum value not listed.
        for arguments in [#"{"unit": "celsius"}"#, #"{"city": "Paris", "unit": "kelvin"}"#] {
            let bad = try matcher(syntax, Self.tools())
            #expect(!bad.accept(string: frame.open + frame.callStart + "get_weather" + frame.nameEnd + arguments + frame.callEnd))
        }
        let unknown = try matcher(syntax, Self.tools())
        #expect(!unknown.accept(string: frame.open + frame.callStart + "get_wether"))
    }

    @Test func hermesAutoTakesCallsInAFenceOrBareButRequiredOnlyInTags() throws {
        let fenced = "```json\n{\"name\": \"get_time\", \"arguments\": {\"timezone\": \"Europe/Oslo\"}}\n```"
        let bare = "{\"name\": \"get_time\", \"arguments\": {}}"
        let pretty = "```json\n{\n  \"name\": \"get_time\",\n  \"arguments\": {\"timezone\": \"Europe/Oslo\"}\n}\n```"
        for text in [fenced, bare, pretty, Self.twoCalls(.hermes), "<tool_call>\n{ \"name\":\"get_time\",\"arguments\":{} }\n</tool_call>"] {
            let auto = try matcher(.hermes, Self.tools(.auto))
            #expect(auto.accept(string: text), "\(text)")
            #expect(auto.canTerminate)
        }
        for text in [fenced, bare] {
            #expect(try !matcher(.hermes, Self.tools(.required)).accept(string: text))
        }
    }

    @Test func llama3CallsOneFunctionWithParameters() throws {
        let grammar = try matcher(.llama3, Self.tools())
        #expect(grammar.accept(string: #"{"name": "get_weather", "parameters": {"city": "Oslo"}}"#))
        #expect(grammar.canTerminate)
        #expect(!grammar.accept(string: #"{"#))
    }

    @Test func genericAutoAllowsATextAnswer() throws {
        let grammar = try matcher(.generic, Self.tools(.auto))
        #expect(grammar.accept(string: #"{"response": "It is sunny."}"#))
        #expect(grammar.canTerminate)
        let required = try matcher(.generic, Self.tools(.required))
        #expect(!required.accept(string: #"{"response""#))
    }

    // MARK: Parsing

    /// Feeds `text` to a parser in pieces of `size` characters; returns the parser and its events.
    func parse(_ syntax: ToolCallSyntax, freeText: Bool, _ text: String, pieces size: Int) -> (ToolCallParser, [ToolCallParser.Event]) {
        var parser = ToolCallParser(syntax: syntax, freeTextFirst: freeText)
        var events: [ToolCallParser.Event] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            events += parser.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        events += parser.finish()
        return (parser, events)
    }

    @Test(arguments: [ToolCallSyntax.hermes, .mistral, .generic], [1, 2, 3, 7, 1000])
    func callsParseHoweverTheTextIsSplit(syntax: ToolCallSyntax, size: Int) {
        let (parser, events) = parse(syntax, freeText: false, Self.twoCalls(syntax), pieces: size)
        #expect(
            parser.calls == [
                .init(name: "get_weather", arguments: #"{"city": "Paris", "unit": "celsius"}"#), .init(name: "get_time", arguments: "{}"),
            ])
        #expect(parser.content.isEmpty)
        #expect(parser.callsComplete)
        // The streamed events tell the same: each call starts once, then its arguments in order.
        var streamed: [Int: String] = [:]
        var started: [Int] = []
        for event in events {
            switch event {
            case .callStarted(let index, _): started.append(index)
            case let .arguments(index, fragment): streamed[index, default: ""] += fragment
            case .content(let text): Issue.record("unexpected content \(text)")
            }
        }
        #expect(started == [0, 1])
        #expect(streamed == [0: #"{"city": "Paris", "unit": "celsius"}"#, 1: "{}"])
    }

    @Test(arguments: [1, 2, 5, 1000])
    func textBeforeATriggeredCallIsContent(size: Int) {
        let answer = "Let me check <the> weather.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"
        let (parser, events) = parse(.hermes, freeText: true, answer, pieces: size)
        #expect(parser.content == "Let me check <the> weather.\n")
        #expect(parser.calls == [.init(name: "get_time", arguments: "{}")])
        let content = events.compactMap { if case .content(let text) = $0 { return text } else { return nil } }.joined()
        #expect(content == parser.content)
    }

    @Test(arguments: [1, 2, 5, 1000])
    func hermesCallsInAFenceOrBareAreCalls(size: Int) {
        let fenced = "Here:\n```json\n{\"name\": \"get_time\", \"arguments\": {\"timezone\": \"Europe/Oslo\"}}\n```"
        let (inFence, _) = parse(.hermes, freeText: true, fenced, pieces: size)
        #expect(inFence.content == "Here:\n")
        #expect(inFence.calls == [.init(name: "get_time", arguments: #"{"timezone": "Europe/Oslo"}"#)])
        #expect(inFence.callsComplete)
        let pretty = "```json\n{\n  \"name\": \"get_time\",\n  \"arguments\": {\n    \"timezone\": \"Europe/Oslo\"\n  }\n}\n```"
        let (prettyFence, _) = parse(.hermes, freeText: true, pretty, pieces: size)
        #expect(prettyFence.content.isEmpty)
        #expect(prettyFence.calls == [.init(name: "get_time", arguments: "{\n    \"timezone\": \"Europe/Oslo\"\n  }")])
        #expect(prettyFence.callsComplete)
        let (bare, _) = parse(.hermes, freeText: true, " \n{\"name\": \"get_time\", \"arguments\": {}}", pieces: size)
        #expect(bare.content.isEmpty)
        #expect(bare.calls == [.init(name: "get_time", arguments: "{}")])
        #expect(bare.callsComplete)
    }

    @Test(arguments: [1, 3, 1000])
    func plainAnswersStayText(size: Int) {
        for (syntax, answer) in [
            (ToolCallSyntax.hermes, "No call needed: <tool is not here."), (.llama3, "Paris is sunny {mostly}."),
            (.hermes, "A call looks like {\"name\": \"f\"} in JSON."), (.hermes, "{\"answer\": 42}"),
        ] {
            let (parser, _) = parse(syntax, freeText: true, answer, pieces: size)
            #expect(parser.content == answer)
            #expect(parser.calls.isEmpty)
            #expect(!parser.callsComplete)
        }
    }

    @Test func llama3CallAtTheStartIsACall() {
        let (parser, _) = parse(.llama3, freeText: true, #"  {"name": "get_weather", "parameters": {"city": "Oslo"}}"#, pieces: 2)
        #expect(parser.calls == [.init(name: "get_weather", arguments: #"{"city": "Oslo"}"#)])
        #expect(parser.callsComplete)
    }

    @Test(arguments: [1, 2, 4, 1000])
    func genericTextAnswerIsDecoded(size: Int) {
        let (parser, events) = parse(.generic, freeText: true, #"{"response": "Sunny, \"warm\"\n\u00e9\ud83d\ude00 done"}"#, pieces: size)
        #expect(parser.content == "Sunny, \"warm\"\né😀 done")
        #expect(parser.calls.isEmpty)
        let content = events.compactMap { if case .content(let text) = $0 { return text } else { return nil } }.joined()
        #expect(content == parser.content)
    }

    @Test(arguments: [1, 3, 1000])
    func textThatLeavesTheFrameIsKeptAsContent(size: Int) {
        for (freeText, answer) in [
            (false, "<tool_call>\nnot json at all"), (true, "Fenced:\n```json\n{\n  \"title\": \"get_time\"\n}\n```"),
            (true, "  {\"name\": \"x"), (true, "<tool_call>\n{\"name\": \"get_"),
        ] {
            let (parser, events) = parse(.hermes, freeText: freeText, answer, pieces: size)
            #expect(parser.content == answer)
            #expect(parser.calls.isEmpty)
            let content = events.compactMap { if case .content(let text) = $0 { return text } else { return nil } }.joined()
            #expect(content == answer)
        }
    }

    // MARK: Lazy constraint

    /// A toy vocabulary: token i is `pieces[i]`; the last token ends the sequence.
    static let pieces = [
        "Sure", " ", "<tool", "_call>", "\n{\"name\": \"", "get_time", "get_weather", "\", \"arguments\": ", "{}", "}\n</tool_call>", "{", "x",
        "\"name\": \"", "",
    ]

    func lazyConstraint() throws -> LazyGrammarTokenConstraint {
        let vocabulary = TokenVocabulary(tokens: Self.pieces.map { Array($0.utf8) }, endOfSequence: [Int32(Self.pieces.count - 1)])
        let grammar = try GrammarCompiler().compile(ToolCallSyntax.hermes.grammar(for: Self.tools(.auto)))
        let source = GrammarConstraintSource(grammar: grammar, vocabulary: vocabulary, limits: GrammarLimits(), whitespaceAtEnd: nil)
        return LazyGrammarTokenConstraint(
            calls: source,
            triggers: ToolCallSyntax.hermes.frames.map { GrammarTrigger(text: FrameText($0.trigger!), onlyAtStart: $0.triggerOnlyAtStart) })
    }

    func allowed(_ constraint: LazyGrammarTokenConstraint) -> [String] {
        var mask = [UInt64](repeating: 0, count: 1)
        mask.withUnsafeMutableBufferPointer { constraint.fillAllowedTokens(into: $0) }
        return Self.pieces.indices.filter { mask[0] >> UInt64($0) & 1 == 1 }.map { Self.pieces[$0] }
    }

    @Test func lazyConstraintAppliesFromATriggerSplitAcrossTokens() throws {
        let constraint = try lazyConstraint()
        // Free text: nothing is masked, any token is taken.
        for token: Int32 in [0, 1, 11, 1, 2] {
            #expect(!constraint.constrainsNextToken)
            #expect(constraint.accept(token: token))
        }
        // "<tool" + "_call>" completes the trigger: from here on only the call's text fits.
        #expect(constraint.accept(token: 3))
        #expect(constraint.constrainsNextToken)
        #expect(allowed(constraint) == ["\n{\"name\": \""])
        for token: Int32 in [4, 5, 7, 8] { #expect(constraint.accept(token: token)) }
        #expect(!constraint.accept(token: 11))
        #expect(allowed(constraint) == [" ", "}\n</tool_call>"])
        #expect(constraint.accept(token: 9))
        #expect(allowed(constraint).contains(""))
    }

    @Test func lazyConstraintTakesABareCallOnlyAtTheStart() throws {
        let atStart = try lazyConstraint()
        #expect(atStart.accept(token: 1))
        #expect(atStart.accept(token: 10))
        #expect(!atStart.constrainsNextToken)
        #expect(atStart.accept(token: 12))
        #expect(atStart.constrainsNextToken)
        #expect(allowed(atStart).sorted() == ["get_time", "get_weather"])
        let later = try lazyConstraint()
        for token: Int32 in [0, 1, 10, 12] { #expect(later.accept(token: token)) }
        #expect(!later.constrainsNextToken)
    }

    // MARK: Requests

    func requestError(_ extra: String) -> APIError? {
        do {
            _ = try ChatCompletionRequest(body: try JSONParser().parse(#"{"model":"m","messages":[{"role":"user","content":"x"}],"# + extra + "}"))
            return nil
        } catch let error as APIError { return error } catch {
            Issue.record("not an APIError: \(error)")
            return nil
        }
    }

    static let tool = #"{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}"#

    @Test(arguments: [
        (#""tools":[\#(tool)],"tool_choice":{"type":"function","function":{"name":"g"}}"#, "tool_choice.function.name"),
        (#""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"array"}}}]"#, "tools[0].function.parameters"),
        (#""tools":[{"type":"function","function":{"name":"f","parameters":[]}}]"#, "tools[0].function.parameters"),
        (#""tools":[{"type":"function","function":{"name":"bad name"}}]"#, "tools[0].function.name"),
        (#""tools":[\#(tool),\#(tool)]"#, "tools[1].function.name"),
        (#""tools":[{"type":"retrieval"}]"#, "tools[0].type"),
        (#""tool_choice":"required""#, "tool_choice"),
        (#""tools":[\#(tool)],"tool_choice":"sometimes""#, "tool_choice"),
        (#""tools":[\#(tool)],"response_format":{"type":"json_object"}"#, "response_format"),
        (#""tools":[\#(tool)],"ignore_eos":true"#, "ignore_eos"),
        (#""messages":[{"role":"tool","content":"18C"}]"#, "messages[0].tool_call_id"),
        (
            #""messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{oops"}}]}]"#,
            "messages[0].tool_calls[0].function.arguments"
        ),
    ])
    func badToolRequestsAreRefusedByName(extra: String, param: String) throws {
        let error = try #require(requestError(extra))
        #expect(error.status == 400)
        #expect(error.param == param)
    }

    @Test func toolChoiceNoneAndNoToolsMeanText() throws {
        #expect(
            try ChatCompletionRequest(
                body: try JSONParser().parse(
                    #"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[\#(Self.tool)],"tool_choice":"none"}"#)
            ).tools == nil)
        let request = try ChatCompletionRequest(
            body: try JSONParser().parse(
                #"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[\#(Self.tool)],"parallel_tool_calls":false}"#))
        #expect(request.tools?.choice == .auto)
        #expect(request.tools?.parallelCalls == false)
    }

    @Test func earlierCallsReachTheTemplateWithParsedArguments() throws {
        let request = try ChatCompletionRequest(
            body: try JSONParser().parse(
                #"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"city\": \"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C"}]}"#
            ))
        #expect(
            request.messages[1]["tool_calls"] == [["id": "call_1", "type": "function", "function": ["name": "f", "arguments": ["city": "Paris"]]]])
    }
}
