/// Why a grammar or a JSON Schema could not be compiled. Every case says where the problem is, so
/// that the API can answer 400 with a place a client can fix: a line and column of GBNF text, or a
/// JSON pointer into a schema.
public enum GrammarError: Error, Equatable, Sendable, CustomStringConvertible {
    /// GBNF text that does not parse, or that names rules it does not define (1-based line and column).
    case syntax(message: String, line: Int, column: Int)
    /// A grammar that parses but cannot be used: an undefined or left-recursive rule, no `root`.
    case invalidGrammar(message: String)
    /// A JSON Schema that Kiln cannot compile; `pointer` is the RFC 6901 pointer of the offending part.
    case invalidSchema(message: String, pointer: String)
    /// A configured limit (`GrammarLimits`) was exceeded.
    case limitExceeded(message: String, pointer: String?)

    public var description: String {
        switch self {
        case let .syntax(message, line, column): return "grammar syntax error at line \(line), column \(column): \(message)"
        case let .invalidGrammar(message): return "invalid grammar: \(message)"
        case let .invalidSchema(message, pointer): return "invalid JSON schema at '\(pointer)': \(message)"
        case let .limitExceeded(message, pointer):
            if let pointer { return "limit exceeded at '\(pointer)': \(message)" }
            return "limit exceeded: \(message)"
        }
    }
}
