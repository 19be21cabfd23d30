import Foundation

/// Bounds on the work a template may do. Chat templates come from untrusted model files, so a
/// template that loops for ever, grows a string exponentially or recurses without end must fail
/// with a ``TemplateError`` of kind `.limitExceeded` instead of hanging or crashing the server.
///
/// The defaults are far above what real chat templates need (the most expensive reference
/// rendering, a tool-call conversation, takes under 8 000 steps) and low enough that a hostile
/// template fails within one or two seconds. At the default limits a rendering needs well under
/// 1 MiB of stack.
public struct TemplateLimits: Sendable, Equatable {
    /// Largest template source accepted, in UTF-8 bytes.
    public var maxSourceBytes: Int
    /// Evaluation steps per rendering: one per statement, expression node and loop iteration,
    /// plus one per 4 bytes of string and one per element of list that an operation reads or
    /// produces.
    /// 10 million steps take about a second.
    public var maxSteps: Int
    /// Largest rendered output, and largest string any operation may produce, in UTF-8 bytes.
    public var maxOutputBytes: Int
    /// Deepest nesting of macro calls, recursive loops and `caller()` calls.
    public var maxCallDepth: Int
    /// Deepest nesting of template syntax (blocks and expressions) and of values (lists, dicts,
    /// chained filters); also bounds the depth of JSON context input.
    public var maxNestingDepth: Int
    /// Most elements any list, dict or split a template builds may have.
    public var maxCollectionItems: Int
    /// Largest `range(...)`, as in jinja2's sandbox (`MAX_RANGE`).
    public var maxRange: Int

    public init(
        maxSourceBytes: Int = 1 << 20,
        maxSteps: Int = 10_000_000,
        maxOutputBytes: Int = 8 << 20,
        maxCallDepth: Int = 100,
        maxNestingDepth: Int = 128,
        maxCollectionItems: Int = 1 << 20,
        maxRange: Int = 100_000
    ) {
        self.maxSourceBytes = maxSourceBytes
        self.maxSteps = maxSteps
        self.maxOutputBytes = maxOutputBytes
        self.maxCallDepth = maxCallDepth
        self.maxNestingDepth = maxNestingDepth
        self.maxCollectionItems = maxCollectionItems
        self.maxRange = maxRange
    }
}
