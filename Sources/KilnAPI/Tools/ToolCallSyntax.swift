import KilnGrammar
import KilnJSON
import KilnTokenizer

/// How a model family writes tool calls, recognised from its chat template. Each syntax is a
/// frame of fixed text around each call's name and JSON arguments; Kiln's call grammar writes the
/// frame exactly, so `ToolCallParser` can follow it as the tokens arrive.
public enum ToolCallSyntax: String, Sendable, CaseIterable {
    /// Hermes 2/3, Qwen 2.5 and 3: `<tool_call>\n{"name": "f", "arguments": {…}}\n</tool_call>`,
    /// one block per call, a newline between blocks.
    case hermes
    /// Llama 3.1–3.3's JSON calls: `{"name": "f", "parameters": {…}}`, one call, at the start of
    /// the answer.
    case llama3
    /// Mistral's `[TOOL_CALLS][{"name": "f", "arguments": {…}}, …]`.
    case mistral
    /// Any other template: Kiln describes the tools in the system message and the answer is one
    /// JSON object, `{"tool_calls": [{"name": "f", "arguments": {…}}, …]}` or, when the model may
    /// answer in text, `{"response": "…"}` (llama.cpp's generic format).
    case generic

    /// The syntax `templateSource` teaches its model; `generic` when it shows none.
    public static func detect(templateSource: String?) -> ToolCallSyntax {
        guard let source = templateSource else { return .generic }
        if source.contains("<tool_call>") { return .hermes }
        if source.contains("[TOOL_CALLS]") { return .mistral }
        if source.contains("<|start_header_id|>") && source.contains("ipython") && source.contains("\"parameters\"") { return .llama3 }
        return .generic
    }

    /// The fixed text around calls, and the text that shows the model has started them.
    struct Frame {
        /// Before the first call.
        var open: String
        /// Before each call's name (its opening quote included).
        var callStart: String
        /// Between the name and the arguments (the name's closing quote included).
        var nameEnd: String
        /// After the arguments.
        var callEnd: String
        /// Between two calls.
        var separator: String = ""
        /// After the last call.
        var close: String = ""
        /// Whether an answer may hold several calls at all.
        var allowsSeveral: Bool
        /// The text that starts the calls after free text (`tool_choice: auto`): a prefix of
        /// `open + callStart`, so that the grammar can take the output from its first byte. Nil:
        /// the frame is never entered after text. Every frame text is read as a `FrameText`.
        var trigger: String?
        /// Whether the trigger counts only at the start of the answer (after whitespace).
        var triggerOnlyAtStart = false
    }

    /// The frames the model may write calls in, the one its template teaches first. Calls that
    /// must be made (`required`, a named function) use that one; after free text (`auto`) any.
    var frames: [Frame] {
        switch self {
        case .hermes:
            // Small Qwen models often write the call's JSON bare, or in a Markdown fence, instead of
            // in the tags their template asks for; both are calls too, in one frame each.
            return [
                Frame(
                    open: "", callStart: "<tool_call>\n{\"name\": \"", nameEnd: "\", \"arguments\": ", callEnd: "}\n</tool_call>",
                    separator: "\n", allowsSeveral: true, trigger: "<tool_call>"),
                Frame(
                    open: "```json\n", callStart: "{\"name\": \"", nameEnd: "\", \"arguments\": ", callEnd: "}", close: "\n```",
                    allowsSeveral: false, trigger: "```json\n{\"name\": \""),
                Frame(
                    open: "", callStart: "{\"name\": \"", nameEnd: "\", \"arguments\": ", callEnd: "}", allowsSeveral: false,
                    trigger: "{\"name\": \"", triggerOnlyAtStart: true),
            ]
        case .llama3:
            return [
                Frame(
                    open: "", callStart: "{\"name\": \"", nameEnd: "\", \"parameters\": ", callEnd: "}", allowsSeveral: false,
                    trigger: "{\"name\": \"", triggerOnlyAtStart: true)
            ]
        case .mistral:
            return [
                Frame(
                    open: "[TOOL_CALLS][", callStart: "{\"name\": \"", nameEnd: "\", \"arguments\": ", callEnd: "}", separator: ", ",
                    close: "]", allowsSeveral: true, trigger: "[TOOL_CALLS]")
            ]
        case .generic:
            return [
                Frame(
                    open: "{\"tool_calls\": [", callStart: "{\"name\": \"", nameEnd: "\", \"arguments\": ", callEnd: "}",
                    separator: ", ", close: "]}", allowsSeveral: true, trigger: nil)
            ]
        }
    }

    /// The frame the template teaches.
    var frame: Frame { frames[0] }

    /// The control tokens that spell part of a frame (Mistral's `[TOOL_CALLS]`): decoding shows
    /// them as text, so that the grammar can allow them and the parser can see them.
    func syntaxTokens(in tokenizer: Tokenizer) -> Set<Int32> {
        var tokens: Set<Int32> = []
        for frame in frames {
            for text in [frame.trigger, frame.open] {
                guard let text, !text.isEmpty else { continue }
                let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: true)
                if ids.count == 1, tokenizer.pieceBytes(ids[0], renderSpecial: false).isEmpty { tokens.insert(ids[0]) }
            }
        }
        return tokens
    }

    /// The start of a `generic` text answer, up to its JSON string (whose quote `generic` decodes).
    static let genericResponseStart = "{\"response\": "

    /// Whether the chat template itself presents `tools` to the model; for `generic` Kiln does.
    var templateShowsTools: Bool { self != .generic }

    /// The ids of calls: Mistral's templates insist on nine letters and digits.
    func makeCallID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let length = self == .mistral ? 9 : 24
        let random = String((0..<length).map { _ in alphabet.randomElement()! })
        return self == .mistral ? random : "call_" + random
    }

    // MARK: Grammar

    /// The grammar every answer to `tools` follows: calls only, in the template's frame
    /// (`required`, a named function); with `auto`, calls in any frame, entered at its trigger, or
    /// for `generic`, calls or a text answer.
    func grammar(for tools: ToolRequest) -> GrammarSource {
        var offered = tools.functions
        var several = tools.parallelCalls
        if case .function(let name) = tools.choice {
            offered = offered.filter { $0.name == name }
            several = false
        }
        let frames = tools.choice == .auto ? self.frames : [frame]
        var rules: [String] = []
        func text(_ text: String) -> String { FrameText(text).gbnf(space: "tool-space") }
        for (index, frame) in frames.enumerated() {
            let names = offered.enumerated().map { "\(text($1.name + frame.nameEnd)) tool-arguments-\($0)" }
            let repeated = several && frame.allowsSeveral ? " ( \(text(frame.separator)) tool-call-\(index) )*" : ""
            rules.append("tool-call-\(index) ::= \(text(frame.callStart)) ( \(names.joined(separator: " | ")) ) \(text(frame.callEnd))")
            rules.append("tool-calls-\(index) ::= \(text(frame.open)) tool-call-\(index)\(repeated) \(text(frame.close))")
        }
        rules.append("tool-space ::= [ \\t\\n\\r]{0,\(FrameText.maxSpace)}")
        var alternatives = frames.indices.map { "tool-calls-\($0)" }
        var schemas = offered.enumerated().map { SchemaRule(name: "tool-arguments-\($0)", schema: $1.parameters) }
        if self == .generic && tools.choice == .auto {
            alternatives.append("\(text(Self.genericResponseStart)) tool-response \(text("}"))")
            schemas.append(SchemaRule(name: "tool-response", schema: ["type": "string"]))
        }
        rules.insert("root ::= " + alternatives.joined(separator: " | "), at: 0)
        return .gbnfWithSchemas(rules.joined(separator: "\n") + "\n", schemas: schemas)
    }

    // MARK: Prompt

    /// For `generic`: the system text that describes the tools and the answer's shape.
    func genericInstructions(for tools: ToolRequest) -> String {
        let list = tools.templateTools.serialized
        var text = "You can call these tools (JSON Schema of each function's arguments):\n\(list)\n\n"
        switch tools.choice {
        case .auto:
            text +=
                "Answer with one JSON object: {\"tool_calls\": [{\"name\": <function name>, \"arguments\": <arguments object>}]} to call tools, or {\"response\": <your answer as a string>} to answer the user directly."
        case .required, .function, .none:
            text += "Answer with one JSON object: {\"tool_calls\": [{\"name\": <function name>, \"arguments\": <arguments object>}]}."
        }
        return text
    }
}
