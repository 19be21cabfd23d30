import KilnGrammar

/// libFuzzer entry point for the GBNF parser, compiler and matcher.
///
/// The input is GBNF text (as UTF-8 bytes, invalid sequences replaced). Checked:
/// - only `GrammarError`s are thrown, and a syntax error's line and column lie inside the text;
/// - a compiled grammar can be matched: from its start, a matcher fed the text's own bytes
///   (a cheap stand-in for output) never crashes or loops, and an all-or-nothing `accept` that
///   fails leaves `canTerminate` as it was.
/// Small limits keep each input to milliseconds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGBNF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: input, as: UTF8.self)
    var limits = GrammarLimits()
    limits.maxRepetition = 64
    limits.maxCompiledElements = 20_000
    limits.maxRules = 2_000
    limits.maxStacks = 512
    limits.maxMatcherStates = 256
    let grammar: Grammar
    do {
        grammar = try Grammar(gbnf: text, limits: limits)
    } catch .syntax(_, let line, let column) {
        // Lines as the parser counts them: by bytes 0x0A (a String would fold "\r\n" into one Character).
        let lines = Array(text.utf8).filter { $0 == 0x0A }.count + 1
        precondition(line >= 1 && line <= lines && column >= 1, "error position \(line):\(column) outside the text")
        return 0
    } catch {
        return 0
    }
    let matcher = GrammarMatcher(grammar: grammar, limits: limits)
    for byte in input.prefix(256) {
        let before = matcher.canTerminate
        if !matcher.accept(bytes: [byte]) {
            precondition(matcher.canTerminate == before, "a refused byte changed the state")
        }
    }
    return 0
}
