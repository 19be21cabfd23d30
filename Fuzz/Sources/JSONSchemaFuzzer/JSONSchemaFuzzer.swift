import KilnGrammar
import KilnJSON

/// libFuzzer entry point for the JSON Schema compiler.
///
/// The input is JSON text; whatever parses is compiled as a schema. Checked:
/// - only `GrammarError`s, and an invalid schema's pointer resolves inside the schema (each
///   step names a member or an index that exists) or is empty;
/// - the GBNF a compiled schema goes through compiles again to the same program size;
/// - a matcher over the compiled grammar survives the input's bytes;
/// - the schema compiles as two functions' arguments in a call grammar (`gbnfWithSchemas`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONSchema(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let schema = try? JSONParser(maxDepth: 64).parse(input) else { return 0 }
    var limits = GrammarLimits()
    limits.maxRepetition = 64
    limits.maxCompiledElements = 50_000
    limits.maxRegexStates = 500
    limits.maxStacks = 512
    limits.maxMatcherStates = 256
    let compiler = GrammarCompiler(limits: limits)
    let grammar: Grammar
    do {
        grammar = try compiler.compile(.jsonSchema(schema))
    } catch .invalidSchema(_, let pointer) {
        precondition(resolves(pointer, in: schema), "error pointer '\(pointer)' is not in the schema")
        return 0
    } catch {
        return 0
    }
    let text = try! compiler.gbnf(forSchema: schema)
    let again = try! Grammar(gbnf: text, limits: limits)
    precondition(again.elementCount == grammar.elementCount, "recompiling the schema's GBNF changed it")
    let matcher = GrammarMatcher(grammar: grammar, limits: limits)
    for byte in input.prefix(256) { _ = matcher.accept(bytes: [byte]) }
    // The schema as the arguments of two functions of a call grammar (how tools compile), beside
    // written rules whose names its own rules must avoid: it compiles there too, unless the two
    // copies together pass a size limit.
    let call = #"root ::= "a" args "}" | "b" args-1 | root-1"# + "\nroot-1 ::= \"c\" args\n"
    do {
        _ = try compiler.compile(
            .gbnfWithSchemas(call, schemas: [SchemaRule(name: "args", schema: schema), SchemaRule(name: "args-1", schema: schema)]))
    } catch .limitExceeded {
    } catch {
        preconditionFailure("the schema compiled alone but not in a call grammar: \(error)")
    }
    return 0
}

/// Whether every step of an RFC 6901 pointer names a member or index of `value` (the last step
/// may name a missing keyword of an object, for errors about a keyword's absence or its value).
private func resolves(_ pointer: String, in value: JSONValue) -> Bool {
    if pointer.isEmpty { return true }
    var current = value
    let steps = pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    for (index, rawStep) in steps.enumerated() {
        let step = rawStep.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        switch current {
        case .object:
            guard let next = current[step] else { return index == steps.count - 1 }
            current = next
        case .array(let items):
            guard let position = Int(step), items.indices.contains(position) else { return false }
            current = items[position]
        default: return false
        }
    }
    return true
}
