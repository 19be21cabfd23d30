/// An error raised while parsing or rendering a chat template.
///
/// The `kind` mirrors the exception class Python's jinja2 would raise in the same situation, so a
/// message reads like jinja2's (`UndefinedError: 'foo' is undefined`) and callers can tell a
/// template's own `raise_exception(...)` apart from a broken or hostile template.
public struct TemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The family of the failure.
    public enum Kind: String, Sendable {
        /// The source is not valid template syntax (jinja2's `TemplateSyntaxError`).
        case syntax = "TemplateSyntaxError"
        /// A filter or test that does not exist, found while parsing (jinja2's
        /// `TemplateAssertionError`, a kind of syntax error).
        case assertion = "TemplateAssertionError"
        /// The template called `raise_exception(message)` (jinja2's `TemplateError`).
        case raised = "TemplateError"
        /// A value that does not exist was used in a way that needs a value.
        case undefined = "UndefinedError"
        /// The sandbox refused an operation (for example mutating a list).
        case security = "SecurityError"
        /// An operation got a value of the wrong type (Python's `TypeError`).
        case type = "TypeError"
        /// An operation got a value of the right type but a bad content (Python's `ValueError`).
        case value = "ValueError"
        /// Division or modulo by zero.
        case zeroDivision = "ZeroDivisionError"
        /// An integer result does not fit in 64 bits (Python would use a big integer).
        case overflow = "OverflowError"
        /// A value lacks a method an operation needs (Python's `AttributeError`).
        case attribute = "AttributeError"
        /// A filter got arguments it cannot use (jinja2's `FilterArgumentError`).
        case filterArgument = "FilterArgumentError"
        /// Any other failure at render time (jinja2's `TemplateRuntimeError`).
        case runtime = "TemplateRuntimeError"
        /// The template used more steps, output, nesting or recursion than the limits allow.
        case limitExceeded = "LimitExceeded"
    }

    /// The family of the failure.
    public let kind: Kind
    /// The message, without the kind prefix.
    public let message: String
    /// The 1-based source line the failure was detected at, when known.
    public let line: Int?

    /// Creates an error of `kind` with `message`.
    public init(_ kind: Kind, _ message: String, line: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    /// `Kind: message` (plus the line for syntax errors), in the style of jinja2's tracebacks.
    public var description: String {
        if let line, kind == .syntax || kind == .assertion {
            return "\(kind.rawValue): \(message) (line \(line))"
        }
        return "\(kind.rawValue): \(message)"
    }

    static func syntax(_ message: String, line: Int) -> TemplateError {
        TemplateError(.syntax, message, line: line)
    }

    static func type(_ message: String) -> TemplateError {
        TemplateError(.type, message)
    }

    static func runtime(_ message: String) -> TemplateError {
        TemplateError(.runtime, message)
    }

    static func filterArgument(_ message: String) -> TemplateError {
        TemplateError(.filterArgument, message)
    }
}
