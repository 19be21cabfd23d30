/// Restricts which tokens a sequence may sample next: a grammar, a JSON Schema, a tool-call
/// format. One instance follows one sequence; `TokenConstraintSource` makes one per sequence.
///
/// The executor asks for the allowed set before every sampled token and reports the token it
/// chose. When the constraint is complete it should allow only the end-of-sequence tokens, so
/// that the sequence ends the usual way (finish reason `stop`) one step later.
public protocol TokenConstraint: AnyObject {
    /// Sets exactly the bits of the tokens allowed next (token i: bit i % 64 of word i / 64),
    /// clearing every other bit of `mask`, whose count is `TokenMask.wordCount(vocabularySize:)`.
    func fillAllowedTokens(into mask: UnsafeMutableBufferPointer<UInt64>)
    /// Advances past `token`; false when the token was not allowed (the state is then unchanged).
    func accept(token: Int32) -> Bool
    /// Whether the next token is restricted at all. A lazily triggered constraint (a tool call
    /// that may follow free text) is not until its trigger appears: the executor then samples
    /// without a mask and still reports each token through `accept(token:)`.
    var constrainsNextToken: Bool { get }
}

extension TokenConstraint {
    public var constrainsNextToken: Bool { true }
}

/// Makes the per-sequence state of one constraint (a compiled grammar and the vocabulary it was
/// prepared for). Shared by every sequence of a request, so it must be safe to share.
public protocol TokenConstraintSource: Sendable {
    /// A constraint at its start, for one sequence.
    func makeConstraint() -> any TokenConstraint
}

/// Why a constrained sequence could not go on.
public enum ConstraintError: Error, Equatable, CustomStringConvertible {
    /// The sampler returned a token the constraint then refused: a bug in the constraint.
    case tokenRefused(Int32)

    public var description: String {
        switch self {
        case .tokenRefused(let token): return "the output constraint refused token \(token), which its own mask allowed"
        }
    }
}
