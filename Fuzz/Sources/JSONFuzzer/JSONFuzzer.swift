import KilnJSON

/// libFuzzer entry point for the strict JSON parser.
///
/// Properties checked on every input the parser accepts:
/// - the input is valid UTF-8 (strings are validated, everything else must be ASCII);
/// - round trip: `parse(serialize(parse(x))) == parse(x)`, and serializing is idempotent;
/// - the nesting limit is exact: the value parses with `maxDepth` equal to its nesting and fails
///   with one less.
/// Rejections must be `JSONParseError`s with an offset inside the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let parser = JSONParser()
    let value: JSONValue
    do {
        value = try parser.parse(input)
    } catch let error as JSONParseError {
        precondition(error.offset >= 0 && error.offset <= input.count, "error offset \(error.offset) outside the input")
        return 0
    } catch {
        preconditionFailure("parse threw a non-JSONParseError: \(error)")
    }
    precondition(String(validating: input, as: UTF8.self) != nil, "accepted input that is not UTF-8")

    let text = value.serializedBytes
    let again: JSONValue
    do {
        again = try parser.parse(text)
    } catch {
        preconditionFailure("serialized value does not parse: \(error); text: \(String(decoding: text, as: UTF8.self))")
    }
    precondition(again == value, "round trip changed the value: \(String(decoding: text, as: UTF8.self))")
    precondition(again.serializedBytes == text, "serializing is not idempotent")

    let depth = nesting(of: value)
    precondition(depth <= parser.maxDepth, "accepted nesting \(depth) over the limit")
    if depth > 0 {
        precondition((try? JSONParser(maxDepth: depth).parse(input)) == value, "nesting \(depth) rejected at its own depth")
        precondition((try? JSONParser(maxDepth: depth - 1).parse(input)) == nil, "nesting \(depth) accepted at depth \(depth - 1)")
    }
    return 0
}

/// Containers nested inside one another, counting the outermost: 0 for a scalar.
private func nesting(of value: JSONValue) -> Int {
    switch value {
    case .array(let items): return 1 + (items.map(nesting(of:)).max() ?? 0)
    case .object(let members): return 1 + (members.map { nesting(of: $0.1) }.max() ?? 0)
    default: return 0
    }
}
