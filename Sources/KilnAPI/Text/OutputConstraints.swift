import Foundation
import KilnGrammar
import KilnText
import KilnTokenizer

/// Turns a request's `OutputFormat` into the constraint its sequences decode under: a grammar
/// compiled once per distinct format (cached within a byte bound) over the model's vocabulary,
/// which is prepared once, on the first constrained request.
final class OutputConstraints: Sendable {
    let limits: GrammarLimits
    private let tokenizer: Tokenizer
    private let cache: GrammarCache
    private let lock = NSLock()
    nonisolated(unsafe) private var preparedVocabulary: TokenVocabulary?

    init(tokenizer: Tokenizer, limits: GrammarLimits, cacheBytes: Int) {
        self.tokenizer = tokenizer
        self.limits = limits
        cache = GrammarCache(maxBytes: cacheBytes)
    }

    /// The model's tokens as the bytes decoding emits (control tokens have none and are never
    /// allowed); the end-of-generation tokens end a complete output.
    var vocabulary: TokenVocabulary {
        lock.withLock {
            if let preparedVocabulary { return preparedVocabulary }
            let tokens = (0..<Int32(tokenizer.vocabularySize)).map { tokenizer.pieceBytes($0, renderSpecial: false) }
            let made = TokenVocabulary(tokens: tokens, endOfSequence: tokenizer.endOfGenerationTokens)
            preparedVocabulary = made
            return made
        }
    }

    /// The constraint for `format`; a format that does not compile is a 400 saying where.
    func source(for format: OutputFormat) throws -> any TokenConstraintSource {
        let compiler: GrammarCompiler
        let grammarSource: GrammarSource
        switch format {
        case .jsonObject:
            (compiler, grammarSource) = (GrammarCompiler(limits: limits), .jsonObject)
        case .jsonSchema(let schema, let strict, _):
            (compiler, grammarSource) = (GrammarCompiler(limits: limits, rejectUnknownKeywords: strict), .jsonSchema(schema))
        case .grammar(let text):
            (compiler, grammarSource) = (GrammarCompiler(limits: limits), .gbnf(text))
        }
        do {
            let grammar = try cache.grammar(for: grammarSource, compiler: compiler)
            return GrammarConstraintSource(grammar: grammar, vocabulary: vocabulary, limits: limits)
        } catch {
            throw Self.apiError(error, format: format)
        }
    }

    private static func apiError(_ error: GrammarError, format: OutputFormat) -> APIError {
        switch error {
        case let .syntax(message, line, column):
            return .invalid(
                "'\(format.param)' has a syntax error at line \(line), column \(column): \(message)", param: format.param, code: "invalid_grammar")
        case .invalidGrammar(let message):
            return .invalid("'\(format.param)' cannot be used: \(message)", param: format.param, code: "invalid_grammar")
        case let .invalidSchema(message, pointer):
            return .invalid("'\(format.param)' at '\(pointer)' (JSON pointer): \(message)", param: format.param, code: "invalid_schema")
        case let .limitExceeded(message, pointer):
            let place = pointer.map { " at '\($0)' (JSON pointer)" } ?? ""
            return .invalid("'\(format.param)'\(place) exceeds a limit of this server: \(message)", param: format.param, code: "grammar_too_large")
        }
    }
}

/// A compiled grammar over the model's vocabulary: each sequence follows it with a matcher of its own.
struct GrammarConstraintSource: TokenConstraintSource {
    let grammar: Grammar
    let vocabulary: TokenVocabulary
    let limits: GrammarLimits

    func makeConstraint() -> any TokenConstraint {
        GrammarTokenConstraint(matcher: GrammarMatcher(grammar: grammar, vocabulary: vocabulary, limits: limits))
    }
}

/// One sequence's grammar state as the executor sees it. The matcher allows only the
/// end-of-generation tokens once the grammar is complete, so the sequence ends with `stop`.
final class GrammarTokenConstraint: TokenConstraint {
    let matcher: GrammarMatcher

    init(matcher: GrammarMatcher) { self.matcher = matcher }

    func fillAllowedTokens(into mask: UnsafeMutableBufferPointer<UInt64>) {
        if mask.count >= matcher.maskWordCount {
            matcher.fillAllowedTokens(into: mask)
            return
        }
        // A model with fewer logits than the tokenizer has tokens: the extra ids cannot be sampled.
        var full = [UInt64](repeating: 0, count: matcher.maskWordCount)
        full.withUnsafeMutableBufferPointer { matcher.fillAllowedTokens(into: $0) }
        for index in mask.indices { mask[index] = full[index] }
    }

    func accept(token: Int32) -> Bool { matcher.accept(token: token) }
}
