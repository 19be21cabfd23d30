import KilnJSON

/// Translates a JSON Schema to GBNF (then compiled like any grammar). Each subschema becomes a rule;
/// `$ref`s become references to one rule per target, so recursive schemas are recursive rules.
///
/// Supported: `type` (a name or a list), `properties`, `required`, `additionalProperties`, `items`,
/// `prefixItems`, `minItems`/`maxItems`, `enum`, `const`, `anyOf`, `oneOf` (as `anyOf`: exclusivity
/// is not enforced), `allOf` (of object schemas, merged), `$ref` to `#`, `#/$defs/…` or
/// `#/definitions/…`, `nullable`, `minLength`/`maxLength`, `pattern` (see `PatternTranslator`),
/// `format` date, time, date-time, uuid and email, `minimum`/`maximum`/`exclusiveMinimum`/
/// `exclusiveMaximum` (exact for integers; for numbers, integer bounds only). Object properties
/// come in the schema's order. As in llama.cpp, an object schema with `properties` admits no other
/// keys unless `additionalProperties` says so. Annotations (`title`, `description`, …) are ignored;
/// other unknown keywords are ignored too unless `rejectUnknownKeywords` is set.
struct JSONSchemaCompiler {
    static let annotations: Set<String> = [
        "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
        "$defs", "definitions", "strict", "name",
    ]
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum",
        "const", "anyOf", "oneOf", "allOf", "$ref", "nullable", "minLength", "maxLength", "pattern", "format", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum",
    ]

    /// The schema `#` refers to: the one being compiled.
    private var root: JSONValue
    let limits: GrammarLimits
    private let rejectUnknownKeywords: Bool
    private var rules: [(String, String)] = []
    private var ruleNames: Set<String> = []
    private var referenceRules: [String: String] = [:]
    private var emittedPrimitives: Set<String> = []

    static func gbnf(for schema: JSONValue, limits: GrammarLimits, rejectUnknownKeywords: Bool) throws(GrammarError) -> String {
        try gbnf(forRules: [("root", schema)], reserving: [], limits: limits, rejectUnknownKeywords: rejectUnknownKeywords)
    }

    /// GBNF defining each named rule as its schema's values. The schemas share JSON's fixed rules;
    /// the rules made for their parts get names unlike each other's, the given names and `reserved`
    /// (the names of rules written beside them). `#` refers to the schema being compiled.
    static func gbnf(
        forRules schemas: [(name: String, schema: JSONValue)], reserving reserved: Set<String>, limits: GrammarLimits,
        rejectUnknownKeywords: Bool
    ) throws(GrammarError) -> String {
        var compiler = JSONSchemaCompiler(root: .null, limits: limits, rejectUnknownKeywords: rejectUnknownKeywords)
        compiler.ruleNames.formUnion(reserved)
        compiler.ruleNames.formUnion(schemas.map(\.name))
        var named: [(String, String)] = []
        for (name, schema) in schemas {
            try checkSize(schema, limits: limits)
            compiler.root = schema
            compiler.rootName = name
            compiler.referenceRules = [:]
            named.append((name, try compiler.visit(schema, pointer: "", depth: 0)))
        }
        return (named + compiler.rules).map { "\($0.0) ::= \($0.1)" }.joined(separator: "\n") + "\n"
    }

    /// The rule of the schema being compiled, which `#` refers to.
    private var rootName = "root"

    private init(root: JSONValue, limits: GrammarLimits, rejectUnknownKeywords: Bool) {
        self.root = root
        self.limits = limits
        self.rejectUnknownKeywords = rejectUnknownKeywords
    }

    /// Refuses schemas over the size or depth limits before anything is built from them.
    private static func checkSize(_ schema: JSONValue, limits: GrammarLimits) throws(GrammarError) {
        var nodes = 0
        var pending: [(JSONValue, Int, String)] = [(schema, 0, "")]
        while let (value, depth, pointer) = pending.popLast() {
            nodes += 1
            if nodes > limits.maxSchemaNodes {
                throw .limitExceeded(message: "schema has more than \(limits.maxSchemaNodes) nodes", pointer: pointer)
            }
            if depth > limits.maxDepth { throw .limitExceeded(message: "schema nested deeper than \(limits.maxDepth)", pointer: pointer) }
            switch value {
            case .array(let items): for (index, item) in items.enumerated() { pending.append((item, depth + 1, pointer + "/\(index)")) }
            case .object(let members): for (key, item) in members { pending.append((item, depth + 1, pointer + "/" + escape(key))) }
            default: break
            }
        }
    }

    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    // MARK: Rules

    mutating func addRule(_ name: String, _ body: String) -> String {
        var unique = SchemaPrimitives.ruleName(name)
        if ruleNames.contains(unique) || SchemaPrimitives.rules[unique] != nil {
            var counter = 1
            while ruleNames.contains("\(unique)-\(counter)") { counter += 1 }
            unique = "\(unique)-\(counter)"
        }
        ruleNames.insert(unique)
        rules.append((unique, body))
        if rules.count > limits.maxRules { return unique }
        return unique
    }

    mutating func primitive(_ name: String) -> String {
        if !emittedPrimitives.contains(name) {
            emittedPrimitives.insert(name)
            rules.append((name, SchemaPrimitives.rules[name]!))
            ruleNames.insert(name)
            for dependency in SchemaPrimitives.dependencies[name] ?? [] { _ = primitive(dependency) }
        }
        return name
    }

    // MARK: Visiting

    func fail(_ message: String, _ pointer: String) -> GrammarError { .invalidSchema(message: message, pointer: pointer) }

    /// A GBNF expression for `schema`, which is at `pointer`.
    mutating func visit(_ schema: JSONValue, pointer: String, depth: Int) throws(GrammarError) -> String {
        if depth > limits.maxDepth { throw .limitExceeded(message: "schema nested deeper than \(limits.maxDepth)", pointer: pointer) }
        if rules.count > limits.maxRules { throw .limitExceeded(message: "schema needs more than \(limits.maxRules) rules", pointer: pointer) }
        switch schema {
        case .bool(true): return primitive("value")
        case .bool(false): throw fail("the schema false admits no value", pointer)
        case .object(let members):
            if rejectUnknownKeywords {
                for (key, _) in members where !Self.keywords.contains(key) && !Self.annotations.contains(key) {
                    throw fail("unsupported keyword '\(key)'", pointer + "/" + Self.escape(key))
                }
            }
            return try visitObject(schema, pointer: pointer, depth: depth)
        default: throw fail("a schema must be an object or a boolean", pointer)
        }
    }

    private mutating func visitObject(_ schema: JSONValue, pointer: String, depth: Int) throws(GrammarError) -> String {
        if case .bool(true)? = schema["nullable"] {
            let inner = try visitObject(.object(members(of: schema).filter { $0.0 != "nullable" }), pointer: pointer, depth: depth)
            return "(\(inner)) | \(primitive("null"))"
        }
        if let reference = schema["$ref"] {
            guard case .string(let target) = reference else { throw fail("$ref must be a string", pointer + "/$ref") }
            return try resolveReference(target, pointer: pointer + "/$ref", depth: depth)
        }
        if let constant = schema["const"] { return try literalValue(constant) }
        if let values = schema["enum"] {
            guard case .array(let items) = values else { throw fail("enum must be an array", pointer + "/enum") }
            if items.isEmpty { throw fail("an empty enum admits no value", pointer + "/enum") }
            var alternatives: [String] = []
            for item in items { alternatives.append(try literalValue(item)) }
            return "(" + alternatives.joined(separator: " | ") + ")"
        }
        for keyword in ["anyOf", "oneOf"] {
            if let options = schema[keyword] {
                guard case .array(let items) = options, !items.isEmpty else {
                    throw fail("\(keyword) must be a non-empty array", pointer + "/" + keyword)
                }
                var alternatives: [String] = []
                for (index, item) in items.enumerated() {
                    let merged = mergeSiblings(of: schema, into: item, excluding: keyword)
                    let body = try visit(merged, pointer: pointer + "/\(keyword)/\(index)", depth: depth + 1)
                    alternatives.append(addRule(ruleHint(pointer) + "-\(keyword)-\(index)", body))
                }
                return alternatives.joined(separator: " | ")
            }
        }
        if let all = schema["allOf"] {
            guard case .array(let items) = all, !items.isEmpty else { throw fail("allOf must be a non-empty array", pointer + "/allOf") }
            var merged = members(of: schema).filter { $0.0 != "allOf" }
            // Where each merged keyword (and each merged property) came from, so that an error in
            // the merged schema names a place that exists in the client's.
            var origins: [String: String] = [:]
            for (index, item) in items.enumerated() {
                var resolved = item
                var itemPointer = pointer + "/allOf/\(index)"
                var hops = 0
                while case .string(let target)? = resolved["$ref"] {
                    hops += 1
                    if hops > limits.maxDepth { throw fail("$ref chain does not end", itemPointer + "/$ref") }
                    (resolved, itemPointer) = try lookUp(target, pointer: itemPointer + "/$ref")
                }
                guard case .object(let itemMembers) = resolved else { throw fail("allOf items must be schemas", itemPointer) }
                for (key, value) in itemMembers {
                    origins["/" + Self.escape(key)] = itemPointer
                    if key == "properties", case .object(let properties) = value {
                        for (name, _) in properties { origins["/properties/" + Self.escape(name)] = itemPointer }
                    }
                }
                merged = try mergeObjects(merged, itemMembers, pointer: itemPointer)
            }
            do {
                return try visit(.object(merged), pointer: pointer, depth: depth + 1)
            } catch .invalidSchema(let message, let errorPointer) where errorPointer.hasPrefix(pointer) {
                let rest = String(errorPointer.dropFirst(pointer.count))
                let steps = rest.split(separator: "/", omittingEmptySubsequences: false)
                let property = steps.count > 2 ? "/\(steps[1])/\(steps[2])" : ""
                let keyword = steps.count > 1 ? "/\(steps[1])" : ""
                if let origin = origins[property] ?? origins[keyword] {
                    throw .invalidSchema(message: message, pointer: origin + rest)
                }
                throw .invalidSchema(message: message, pointer: errorPointer)
            }
        }
        if let type = schema["type"] {
            switch type {
            case .string(let name): return try visitTyped(name, schema, pointer: pointer, depth: depth)
            case .array(let names):
                if names.isEmpty { throw fail("an empty type list admits no value", pointer + "/type") }
                var alternatives: [String] = []
                for (index, name) in names.enumerated() {
                    guard case .string(let text) = name else { throw fail("type names must be strings", pointer + "/type/\(index)") }
                    alternatives.append("(" + (try visitTyped(text, schema, pointer: pointer, depth: depth)) + ")")
                }
                return alternatives.joined(separator: " | ")
            default: throw fail("type must be a string or an array of strings", pointer + "/type")
            }
        }
        // No type: infer it from the keywords present, as llama.cpp does.
        if schema["properties"] != nil || schema["additionalProperties"] != nil {
            return try visitTyped("object", schema, pointer: pointer, depth: depth)
        }
        if schema["items"] != nil || schema["prefixItems"] != nil { return try visitTyped("array", schema, pointer: pointer, depth: depth) }
        if schema["pattern"] != nil || schema["format"] != nil || schema["minLength"] != nil || schema["maxLength"] != nil {
            return try visitTyped("string", schema, pointer: pointer, depth: depth)
        }
        return primitive("value")
    }

    func members(of schema: JSONValue) -> [(String, JSONValue)] {
        if case .object(let members) = schema { return members }
        return []
    }

    func ruleHint(_ pointer: String) -> String {
        let last = pointer.split(separator: "/").last.map(String.init) ?? "root"
        return last.isEmpty ? "root" : last
    }

    /// Keywords beside `anyOf`/`oneOf` (such as `type` or `properties`) apply to every option.
    private func mergeSiblings(of schema: JSONValue, into option: JSONValue, excluding keyword: String) -> JSONValue {
        let siblings = members(of: schema).filter { $0.0 != keyword && !Self.annotations.contains($0.0) }
        guard !siblings.isEmpty, case .object(var optionMembers) = option, option["$ref"] == nil else { return option }
        for (key, value) in siblings where optionMembers.first(where: { $0.0 == key }) == nil { optionMembers.append((key, value)) }
        return .object(optionMembers)
    }

    private func mergeObjects(_ base: [(String, JSONValue)], _ extra: [(String, JSONValue)], pointer: String) throws(GrammarError) -> [(
        String, JSONValue
    )] {
        var result = base
        for (key, value) in extra {
            guard let index = result.firstIndex(where: { $0.0 == key }) else {
                result.append((key, value))
                continue
            }
            switch (key, result[index].1, value) {
            case ("properties", .object(let a), .object(let b)):
                result[index].1 = .object(a.filter { entry in !b.contains { $0.0 == entry.0 } } + b)
            case ("required", .array(let a), .array(let b)):
                result[index].1 = .array(a + b.filter { !a.contains($0) })
            case ("enum", .array(let a), .array(let b)):
                let both = a.filter { b.contains($0) }
                if both.isEmpty { throw fail("allOf's enums have no value in common", pointer + "/enum") }
                result[index].1 = .array(both)
            default:
                if result[index].1 != value {
                    throw fail("allOf combines different values of '\(key)', which is not supported", pointer + "/" + Self.escape(key))
                }
            }
        }
        return result
    }

    private func lookUp(_ target: String, pointer: String) throws(GrammarError) -> (JSONValue, String) {
        guard target.hasPrefix("#") else { throw fail("only local references (#…) are supported", pointer) }
        var value = root
        let path = target.dropFirst()
        if path.isEmpty { return (root, "") }
        guard path.hasPrefix("/") else { throw fail("unresolvable reference '\(target)'", pointer) }
        for rawPart in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let part = rawPart.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch value {
            case .object:
                guard let next = value[part] else { throw fail("unresolvable reference '\(target)'", pointer) }
                value = next
            case .array(let items):
                guard let index = Int(part), items.indices.contains(index) else { throw fail("unresolvable reference '\(target)'", pointer) }
                value = items[index]
            default: throw fail("unresolvable reference '\(target)'", pointer)
            }
        }
        return (value, String(path))
    }

    private mutating func resolveReference(_ target: String, pointer: String, depth: Int) throws(GrammarError) -> String {
        if let rule = referenceRules[target] { return rule }
        let (schema, targetPointer) = try lookUp(target, pointer: pointer)
        if target == "#" {
            referenceRules[target] = rootName
            return rootName
        }
        // Reserve the name before visiting, so that a recursive reference finds it.
        let name = addRule(ruleHint(targetPointer), "")
        referenceRules[target] = name
        let body = try visit(schema, pointer: targetPointer, depth: depth + 1)
        if let index = rules.firstIndex(where: { $0.0 == name }) { rules[index].1 = body }
        return name
    }

    mutating func literalValue(_ value: JSONValue) throws(GrammarError) -> String {
        SchemaPrimitives.literal(value.serialized) + " " + primitive("space")
    }

    private mutating func visitTyped(_ type: String, _ schema: JSONValue, pointer: String, depth: Int) throws(GrammarError) -> String {
        switch type {
        case "null": return primitive("null")
        case "boolean": return primitive("boolean")
        case "string": return try visitString(schema, pointer: pointer)
        case "integer", "number": return try visitNumber(schema, integer: type == "integer", pointer: pointer)
        case "array": return try visitArray(schema, pointer: pointer, depth: depth)
        case "object": return try visitObjectType(schema, pointer: pointer, depth: depth)
        default: throw fail("unknown type '\(type)'", pointer + "/type")
        }
    }
}
