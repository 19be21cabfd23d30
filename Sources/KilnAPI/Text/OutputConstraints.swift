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
    /// Control tokens that are text of an output's syntax (see `ToolCallSyntax.syntaxTokens`).
    private let renderedTokens: Set<Int32>
    private let cache: GrammarCache
    private let lock = NSLock()
    nonisolated(unsafe) private var preparedVocabulary: (TokenVocabulary, whitespace: TokenMask)?

    init(tokenizer: Tokenizer, limits: GrammarLimits, cacheBytes: Int, renderedTokens: Set<Int32> = []) {
        self.tokenizer = tokenizer
        self.renderedTokens = renderedTokens
        self.limits = limits
        cache = GrammarCache(maxBytes: cacheBytes)
    }

    /// The model's tokens as the bytes decoding emits (control tokens have none and are never
    /// allowed, except those of `renderedTokens`); the end-of-generation tokens end a complete output. With it, the mask of the
    /// tokens made only of JSON whitespace.
    var vocabulary: (TokenVocabulary, whitespace: TokenMask) {
        lock.withLock {
            if let preparedVocabulary { return preparedVocabulary }
            let tokens = (0..<Int32(tokenizer.vocabularySize)).map { tokenizer.pieceBytes($0, renderSpecial: renderedTokens.contains($0)) }
            let jsonWhitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
            let whitespace = TokenMask(
                vocabularySize: tokens.count,
                allowing: tokens.indices.filter { !tokens[$0].isEmpty && tokens[$0].allSatisfy(jsonWhitespace.contains) }.map { Int32($0) })
            let made = (TokenVocabulary(tokens: tokens, endOfSequence: tokenizer.endOfGenerationTokens), whitespace: whitespace)
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
        // JSON's trailing whitespace means nothing: once the value is complete, end it.
        return try constraintSource(grammarSource, compiler: compiler, param: format.param, whitespaceAtEnd: format.isJSON)
    }

    /// The constraint of an answer to `tools` in `syntax`: the call grammar from the first token,
    /// or with `auto` from the syntax's trigger on (`generic` answers are constrained throughout).
    /// Each function's parameters must compile on their own first, so that a 400 names the tool.
    func source(for tools: ToolRequest, syntax: ToolCallSyntax) throws -> any TokenConstraintSource {
        for (index, function) in tools.functions.enumerated() {
            let compiler = GrammarCompiler(limits: limits, rejectUnknownKeywords: function.strict)
            _ = try constraintSource(
                .jsonSchema(function.parameters), compiler: compiler, param: "tools[\(index)].function.parameters", whitespaceAtEnd: false)
        }
        let strict = tools.functions.contains { $0.strict }
        let calls = try constraintSource(
            syntax.grammar(for: tools), compiler: GrammarCompiler(limits: limits, rejectUnknownKeywords: strict), param: "tools",
            whitespaceAtEnd: false)
        let triggers = syntax.frames.compactMap { frame in
            frame.trigger.map { GrammarTrigger(text: FrameText($0), onlyAtStart: frame.triggerOnlyAtStart) }
        }
        guard tools.choice == .auto, !triggers.isEmpty else { return calls }
        return LazyGrammarConstraintSource(calls: calls, triggers: triggers)
    }

    private func constraintSource(
        _ source: GrammarSource, compiler: GrammarCompiler, param: String, whitespaceAtEnd: Bool
    ) throws -> GrammarConstraintSource {
        do {
            let grammar = try cache.grammar(for: source, compiler: compiler)
            let (vocabulary, whitespace) = self.vocabulary
            return GrammarConstraintSource(
                grammar: grammar, vocabulary: vocabulary, limits: limits, whitespaceAtEnd: whitespaceAtEnd ? whitespace : nil)
        } catch {
            throw Self.apiError(error, param: param)
        }
    }

    private static func apiError(_ error: GrammarError, param: String) -> APIError {
        switch error {
        case let .syntax(message, line, column):
            return .invalid(
                "'\(param)' has a syntax error at line \(line), column \(column): \(message)", param: param, code: "invalid_grammar")
        case .invalidGrammar(let message):
            return .invalid("'\(param)' cannot be used: \(message)", param: param, code: "invalid_grammar")
        case let .invalidSchema(message, pointer):
            return .invalid("'\(param)' at '\(pointer)' (JSON pointer): \(message)", param: param, code: "invalid_schema")
        case let .limitExceeded(message, pointer):
            let place = pointer.map { " at '\($0)' (JSON pointer)" } ?? ""
            return .invalid("'\(param)'\(place) exceeds a limit of this server: \(message)", param: param, code: "grammar_too_large")
        }
    }
}

/// A compiled grammar over the model's vocabulary: each sequence follows it with a matcher of its own.
struct GrammarConstraintSource: TokenConstraintSource {
    let grammar: Grammar
    let vocabulary: TokenVocabulary
    let limits: GrammarLimits
    /// Whitespace-only tokens to refuse once the grammar may end (JSON formats), or nil.
    let whitespaceAtEnd: TokenMask?

    func makeConstraint() -> any TokenConstraint { makeGrammarConstraint() }

    func makeGrammarConstraint() -> GrammarTokenConstraint {
        GrammarTokenConstraint(
            matcher: GrammarMatcher(grammar: grammar, vocabulary: vocabulary, limits: limits), whitespaceAtEnd: whitespaceAtEnd)
    }
}

/// One sequence's grammar state as the executor sees it. The matcher allows only the
/// end-of-generation tokens once the grammar is complete, so the sequence ends with `stop`.
///
/// JSON grammars (llama.cpp's rules, which Kiln's follow) let whitespace follow every value, the
/// last one included, and a model may spend tokens on it before it ends. With `whitespaceAtEnd`,
/// whitespace-only tokens are refused wherever the output could end, so a complete value ends at
/// once; inside the value, where the grammar cannot end, whitespace stays allowed.
final class GrammarTokenConstraint: TokenConstraint {
    let matcher: GrammarMatcher
    let whitespaceAtEnd: TokenMask?
    /// The matcher's whole mask, for a model with fewer logits than the tokenizer has tokens
    /// (the extra ids cannot be sampled); made once, on the first step that needs it.
    private var fullMask: [UInt64] = []

    init(matcher: GrammarMatcher, whitespaceAtEnd: TokenMask? = nil) {
        self.matcher = matcher
        self.whitespaceAtEnd = whitespaceAtEnd
    }

    func fillAllowedTokens(into mask: UnsafeMutableBufferPointer<UInt64>) {
        if mask.count >= matcher.maskWordCount {
            matcher.fillAllowedTokens(into: mask)
        } else {
            if fullMask.isEmpty { fullMask = [UInt64](repeating: 0, count: matcher.maskWordCount) }
            fullMask.withUnsafeMutableBufferPointer { matcher.fillAllowedTokens(into: $0) }
            for index in mask.indices { mask[index] = fullMask[index] }
        }
        if let whitespace = whitespaceAtEnd?.words, matcher.canTerminate {
            for index in 0..<min(mask.count, whitespace.count) { mask[index] &= ~whitespace[index] }
        }
    }

    func accept(token: Int32) -> Bool { matcher.accept(token: token) }
}
