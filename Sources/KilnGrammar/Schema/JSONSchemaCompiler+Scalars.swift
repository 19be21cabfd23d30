import KilnJSON

/// Strings and numbers: lengths, patterns, formats and bounds.
extension JSONSchemaCompiler {
    func nonNegativeInteger(_ schema: JSONValue, _ keyword: String, pointer: String) throws(GrammarError) -> Int? {
        guard let value = schema[keyword] else { return nil }
        switch value {
        case .int(let number) where number >= 0: return number
        case .double(let number) where number >= 0 && number == number.rounded() && number < 1e15: return Int(number)
        default: throw fail("\(keyword) must be a non-negative integer", pointer + "/" + keyword)
        }
    }

    mutating func visitString(_ schema: JSONValue, pointer: String) throws(GrammarError) -> String {
        if case .string(let format)? = schema["format"] {
            switch format {
            case "date": return primitive("date-string")
            case "time": return primitive("time-string")
            case "date-time": return primitive("date-time-string")
            case "uuid": return primitive("uuid")
            case "email": return primitive("email")
            default: break  // other formats are annotations: any string
            }
        }
        if let pattern = schema["pattern"] {
            guard case .string(let text) = pattern else { throw fail("pattern must be a string", pointer + "/pattern") }
            _ = primitive("char")
            let body = try PatternTranslator.translate(text, maxStates: limits.maxRegexStates, pointer: pointer + "/pattern")
            return "\"\\\"\" (\(body)) \"\\\"\" " + primitive("space")
        }
        let minimum = try nonNegativeInteger(schema, "minLength", pointer: pointer) ?? 0
        let maximum = try nonNegativeInteger(schema, "maxLength", pointer: pointer)
        if minimum == 0 && maximum == nil { return primitive("string") }
        if let maximum, maximum < minimum { throw fail("maxLength is below minLength", pointer + "/maxLength") }
        if minimum > limits.maxRepetition || (maximum ?? 0) > limits.maxRepetition {
            throw .limitExceeded(message: "string length bound over \(limits.maxRepetition)", pointer: pointer)
        }
        _ = primitive("char")
        let repetition = maximum.map { "{\(minimum),\($0)}" } ?? "{\(minimum),}"
        return "\"\\\"\" char\(repetition) \"\\\"\" " + primitive("space")
    }

    /// A bound keyword as a number; `exclusive` is the draft-4 boolean form's flag, if any.
    private func bound(_ schema: JSONValue, _ keyword: String, pointer: String) throws(GrammarError) -> Double? {
        guard let value = schema[keyword] else { return nil }
        switch value {
        case .int(let number): return Double(number)
        case .double(let number) where number.isFinite: return number
        case .bool: return nil  // draft 4's exclusiveMinimum: true, handled with minimum
        default: throw fail("\(keyword) must be a number", pointer + "/" + keyword)
        }
    }

    mutating func visitNumber(_ schema: JSONValue, integer: Bool, pointer: String) throws(GrammarError) -> String {
        var lower = try bound(schema, "minimum", pointer: pointer).map { (value: $0, inclusive: true) }
        var upper = try bound(schema, "maximum", pointer: pointer).map { (value: $0, inclusive: true) }
        if case .bool(true)? = schema["exclusiveMinimum"], let current = lower { lower = (current.value, false) }
        if case .bool(true)? = schema["exclusiveMaximum"], let current = upper { upper = (current.value, false) }
        if let exclusive = try bound(schema, "exclusiveMinimum", pointer: pointer), lower.map({ exclusive >= $0.value }) ?? true {
            lower = (exclusive, false)
        }
        if let exclusive = try bound(schema, "exclusiveMaximum", pointer: pointer), upper.map({ exclusive <= $0.value }) ?? true {
            upper = (exclusive, false)
        }
        if lower == nil && upper == nil { return primitive(integer ? "integer" : "number") }
        let limit = Double(NumericRanges.maxMagnitude)
        if integer {
            let low = lower.map { $0.inclusive ? $0.value.rounded(.up) : $0.value.rounded(.down) + 1 }
            let high = upper.map { $0.inclusive ? $0.value.rounded(.down) : $0.value.rounded(.up) - 1 }
            guard
                let expression = NumericRanges.integers(
                    lower: low.map { Int(max(min($0, limit + 1), -limit - 1)) }, upper: high.map { Int(max(min($0, limit + 1), -limit - 1)) })
            else { throw fail("no integer satisfies the bounds", pointer) }
            return "(\(expression)) " + primitive("space")
        }
        for (keyword, value) in [("minimum", lower?.value), ("maximum", upper?.value)] {
            if let value, value != value.rounded() || abs(value) > limit {
                throw fail("bounds of a number must be integers (with at most 16 digits) to be enforced", pointer + "/" + keyword)
            }
        }
        guard
            let expression = NumericRanges.numbers(
                lower: lower.map { NumericRanges.Bound(value: Int($0.value), inclusive: $0.inclusive) },
                upper: upper.map { NumericRanges.Bound(value: Int($0.value), inclusive: $0.inclusive) })
        else { throw fail("no number satisfies the bounds", pointer) }
        return "(\(expression)) " + primitive("space")
    }
}
