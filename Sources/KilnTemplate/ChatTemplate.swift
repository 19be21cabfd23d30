import Foundation

/// A chat template: the Jinja program a model ships (GGUF `tokenizer.chat_template`) that turns
/// a conversation into the model's prompt text.
///
/// Rendering follows Hugging Face's `apply_chat_template` environment on Python's jinja2 3.1:
/// a sandboxed, immutable environment with `trim_blocks` and `lstrip_blocks`, `break` and
/// `continue`, the `{% generation %}` block, `raise_exception(message)`, `strftime_now(format)`,
/// and a `tojson` filter equal to `json.dumps(..., ensure_ascii=False)`. Values follow Python's
/// semantics (truthiness, `None`, dict order, `1` vs `1.0`, list and string `repr`), and an
/// undefined variable prints as nothing but fails when used further.
///
/// Templates are untrusted data: parsing and rendering are bounded by ``TemplateLimits``, so a
/// hostile template fails with a ``TemplateError`` instead of hanging or exhausting memory.
///
/// ```swift
/// let template = try ChatTemplate(source: sourceText)
/// let prompt = try template.render(context: [
///     "messages": [["role": "user", "content": "Hello"]],
///     "add_generation_prompt": true,
///     "bos_token": "<s>", "eos_token": "</s>",
/// ])
/// // or, from JSON text holding the same object:
/// let prompt2 = try template.render(jsonContext: data)
/// ```
/// A `ChatTemplate` is immutable and can render on several threads at once.
public struct ChatTemplate: Sendable {
    /// The template text as given.
    public let source: String
    public let limits: TemplateLimits
    public let environment: TemplateEnvironment
    private let body: [TemplateStatement]

    /// Parses `source`. Throws a ``TemplateError`` of kind `.syntax` for invalid syntax (or an
    /// unknown filter or test outside a conditional branch, as jinja2 does), `.limitExceeded`
    /// when the source is too large or nests too deeply.
    public init(
        source: String, limits: TemplateLimits = TemplateLimits(),
        environment: TemplateEnvironment = TemplateEnvironment()
    ) throws {
        self.source = source
        self.limits = limits
        self.environment = environment
        body = try TemplateParser.parse(source, limits: limits)
    }

    /// Renders with the given variables (typically `messages`, `tools`, `add_generation_prompt`,
    /// `bos_token`, `eos_token`, and any extra ones such as `enable_thinking`).
    public func render(context: [String: TemplateValue]) throws -> String {
        try TemplateRenderer(limits: limits, environment: environment).render(body, context: context)
    }

    /// Renders with variables read from a JSON object (UTF-8 text).
    public func render(jsonContext: Data) throws -> String {
        try render(context: TemplateValue.context(fromJSON: jsonContext, limits: limits))
    }
}
