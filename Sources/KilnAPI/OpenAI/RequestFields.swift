import KilnJSON

/// Typed, validated access to the members of a JSON request object. Every failure is an
/// `APIError` naming the parameter, so a client learns exactly which field to fix.
///
/// It remembers which members its validators asked for, so that `rejectUnread` can apply the
/// policy of `RequestFieldPolicy` to the rest: no member that would change the answer is ignored.
struct RequestFields {
    let object: JSONValue
    let members: [(String, JSONValue)]
    /// Where this object sits in the request (`response_format.`), prefixed to the names errors blame.
    let path: String
    private let asked = AskedNames()

    /// A reference, so that every copy of these fields records into one set.
    private final class AskedNames {
        var names: Set<String> = []
    }

    /// The members of `body`; `context` names a nested object (`"stream_options"`), nil the body.
    init(_ body: JSONValue, context: String? = nil) throws {
        guard case .object(let members) = body else {
            guard let context else { throw APIError.invalid("The request body must be a JSON object, not \(body.typeName)") }
            throw APIError.invalid("'\(context)' must be an object, not \(body.typeName)", param: context)
        }
        self.object = body
        self.members = members
        path = context.map { $0 + "." } ?? ""
    }

    /// The value of `name`, treating an explicit `null` as absent (OpenAI's clients send nulls).
    func value(_ name: String) -> JSONValue? {
        asked.names.insert(name)
        guard let value = object[name], !value.isNull else { return nil }
        return value
    }

    /// Throws for the first member that no validator asked for and that `RequestFieldPolicy`
    /// does not accept as having no effect: a 400 naming it (with its path in the request). A
    /// `null` member counts as absent.
    func rejectUnread() throws {
        for (name, value) in members where !value.isNull && !asked.names.contains(name) {
            try RequestFieldPolicy.check(unread: path + name)
        }
    }

    func string(_ name: String) throws -> String? {
        guard let value = value(name) else { return nil }
        guard case .string(let s) = value else { throw typeError(name, "a string", value) }
        return s
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = value(name) else { return nil }
        guard case .bool(let b) = value else { throw typeError(name, "a boolean", value) }
        return b
    }

    func int(_ name: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = value(name) else { return nil }
        let integer: Int
        switch value {
        case .int(let i): integer = i
        case .double(let d) where d == d.rounded() && abs(d) < 1e15: integer = Int(d)
        default: throw typeError(name, "an integer", value)
        }
        if let range, !range.contains(integer) {
            throw APIError.invalid(
                "'\(path + name)' must be between \(range.lowerBound) and \(range.upperBound), got \(integer)",
                param: path + name)
        }
        return integer
    }

    func double(_ name: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let value = value(name) else { return nil }
        let number: Double
        switch value {
        case .int(let i): number = Double(i)
        case .double(let d): number = d
        default: throw typeError(name, "a number", value)
        }
        guard number.isFinite else { throw APIError.invalid("'\(path + name)' must be a finite number", param: path + name) }
        if let range, !range.contains(number) {
            throw APIError.invalid(
                "'\(path + name)' must be between \(range.lowerBound) and \(range.upperBound), got \(number)",
                param: path + name)
        }
        return number
    }

    func typeError(_ name: String, _ expected: String, _ value: JSONValue) -> APIError {
        APIError.invalid("'\(path + name)' must be \(expected), not \(value.typeName)", param: path + name)
    }
}
