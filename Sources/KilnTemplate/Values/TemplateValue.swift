import Foundation
import KilnJSON

/// A JSON-like value passed to a chat template: the variables of the rendering context.
///
/// Objects keep the order of their keys, as Python dictionaries do, because templates print
/// them (`tools | tojson`) and the order shows in the prompt. Integers and floating-point numbers
/// stay distinct (`1` and `1.0` print differently in Python).
///
/// Build one from Swift literals:
/// ```swift
/// let context: [String: TemplateValue] = [
///     "messages": [["role": "user", "content": "Hi"]],
///     "add_generation_prompt": true,
/// ]
/// ```
/// or from JSON text with ``TemplateValue/init(jsonData:limits:)``.
public enum TemplateValue: Equatable, Sendable {
    /// JSON `null`, Python's `None`.
    case null
    case bool(Bool)
    /// A 64-bit integer; prints without a decimal point (`1`).
    case int(Int)
    /// A floating-point number; prints as Python does (`1.0`, `1e-05`).
    case double(Double)
    case string(String)
    case array([TemplateValue])
    /// Key-value pairs in their original order; a key appears at most once.
    case object([(key: String, value: TemplateValue)])

    /// Structural equality; objects compare key by key in order, strings by code points.
    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The value stored under `key` when this is an object.
    public subscript(key: String) -> TemplateValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first(where: { $0.key == key })?.value
    }

    /// Parses JSON text (UTF-8) as Python's `json.loads` does, which templates are written
    /// against: object keys keep their order (a repeated key keeps its first position and its
    /// last value), numbers without a fraction or exponent become `.int` (or `.double` when they
    /// do not fit in 64 bits), and `NaN`, `Infinity` and `-Infinity` are accepted.
    public init(jsonData: Data, limits: TemplateLimits = TemplateLimits()) throws {
        let parser = JSONParser(maxDepth: limits.maxNestingDepth, dialect: .python)
        do {
            self.init(try parser.parse([UInt8](jsonData)))
        } catch let error as JSONParseError where error.isNestingTooDeep {
            throw TemplateError(.limitExceeded, "JSON nested deeper than \(limits.maxNestingDepth)")
        } catch let error as JSONParseError {
            throw TemplateError(.value, "invalid JSON at byte \(error.offset): \(error.message)")
        }
    }

    /// The template value of a parsed JSON document.
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .int(let value): self = .int(value)
        case .double(let value): self = .double(value)
        case .string(let value): self = .string(value)
        case .array(let items): self = .array(items.map(TemplateValue.init))
        case .object(let members):
            var pairs: [(key: String, value: TemplateValue)] = []
            var indexOfKey: [String: Int] = [:]
            for (key, value) in members {
                if let existing = indexOfKey[key] {
                    pairs[existing].value = TemplateValue(value)
                } else {
                    indexOfKey[key] = pairs.count
                    pairs.append((key, TemplateValue(value)))
                }
            }
            self = .object(pairs)
        }
    }

    /// Parses JSON text; see ``init(jsonData:limits:)``.
    public init(jsonString: String, limits: TemplateLimits = TemplateLimits()) throws {
        try self.init(jsonData: Data(jsonString.utf8), limits: limits)
    }

    /// Parses a JSON object into a rendering context (variable name → value).
    public static func context(fromJSON data: Data, limits: TemplateLimits = TemplateLimits())
        throws -> [String: TemplateValue]
    {
        let value = try TemplateValue(jsonData: data, limits: limits)
        guard case .object(let pairs) = value else {
            throw TemplateError(.value, "the rendering context must be a JSON object")
        }
        var context: [String: TemplateValue] = [:]
        for (key, value) in pairs { context[key] = value }
        return context
    }
}

extension TemplateValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        var pairs: [(key: String, value: TemplateValue)] = []
        for (key, value) in elements {
            if let index = pairs.firstIndex(where: { $0.key == key }) {
                pairs[index].value = value
            } else {
                pairs.append((key, value))
            }
        }
        self = .object(pairs)
    }
}
