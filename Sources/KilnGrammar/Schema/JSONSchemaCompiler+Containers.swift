import KilnJSON

/// Arrays and objects.
extension JSONSchemaCompiler {
    mutating func visitArray(_ schema: JSONValue, pointer: String, depth: Int) throws(GrammarError) -> String {
        let space = primitive("space")
        var tuple: [String] = []
        var schema = schema
        var itemsKeyword = "items"
        if let prefix = schema["prefixItems"], case .object(let members) = schema, prefix.isArray == false {
            // llama.cpp reads a prefixItems that is a single schema as items (when there is no
            // items, else ignores it); so does Kiln.
            if schema["items"] != nil {
                schema = .object(members.filter { $0.0 != "prefixItems" })
            } else {
                schema = .object(members.map { $0.0 == "prefixItems" ? ("items", $0.1) : $0 })
                itemsKeyword = "prefixItems"
            }
        }
        if let prefix = schema["prefixItems"] {
            guard case .array(let items) = prefix else { throw fail("prefixItems must be an array", pointer + "/prefixItems") }
            for (index, item) in items.enumerated() {
                let body = try visit(item, pointer: pointer + "/prefixItems/\(index)", depth: depth + 1)
                tuple.append(addRule(ruleHint(pointer) + "-item-\(index)", body))
            }
        }
        var item: String?
        switch schema["items"] {
        case .none: item = tuple.isEmpty ? primitive("value") : nil
        case .bool(false)?: item = nil
        case .array(let items)?:
            // Draft 4–2019's tuple form.
            for (index, element) in items.enumerated() {
                let body = try visit(element, pointer: pointer + "/items/\(index)", depth: depth + 1)
                tuple.append(addRule(ruleHint(pointer) + "-item-\(index)", body))
            }
            item = nil
        case .some(let itemSchema):
            item = addRule(ruleHint(pointer) + "-item", try visit(itemSchema, pointer: pointer + "/" + itemsKeyword, depth: depth + 1))
        }
        let minItems = try nonNegativeInteger(schema, "minItems", pointer: pointer) ?? 0
        let maxItems = try nonNegativeInteger(schema, "maxItems", pointer: pointer)
        if let maxItems, maxItems < minItems { throw fail("maxItems is below minItems", pointer + "/maxItems") }
        if minItems > limits.maxRepetition || (maxItems ?? 0) > limits.maxRepetition {
            throw .limitExceeded(message: "array length bound over \(limits.maxRepetition)", pointer: pointer)
        }
        // Elements: the tuple's, then `item` repeated; a list of slots with the count range.
        let open = "\"[\" " + space
        let close = "\"]\" " + space
        let separator = "\",\" " + space
        if tuple.isEmpty {
            guard let item else {
                if minItems > 0 { throw fail("no items are allowed but minItems is \(minItems)", pointer + "/minItems") }
                return "\(open) \(close)"
            }
            if maxItems == 0 { return "\(open) \(close)" }
            let rest = maxItems.map { "{\(max(minItems, 1) - 1),\($0 - 1)}" } ?? (minItems > 1 ? "{\(minItems - 1),}" : "*")
            let list = "\(item) (\(separator) \(item))\(rest)"
            return minItems == 0 ? "\(open) (\(list))? \(close)" : "\(open) \(list) \(close)"
        }
        // With a tuple: prefixes of the tuple are allowed down to minItems, then more items if `item`.
        if minItems > tuple.count && item == nil { throw fail("minItems exceeds the tuple's length", pointer + "/minItems") }
        var tail = ""
        if let item {
            let extraMinimum = max(minItems - tuple.count, 0)
            if let maxItems, maxItems <= tuple.count {
                tail = ""
            } else {
                let extraMaximum = maxItems.map { "\($0 - tuple.count)" } ?? ""
                tail = " (\(separator) \(item)){\(extraMinimum),\(extraMaximum)}"
            }
        }
        let usable = maxItems.map { min($0, tuple.count) } ?? tuple.count
        // Nest from the end: element k is optional when k ≥ minItems.
        var expression = tail
        for index in stride(from: usable - 1, through: 0, by: -1) {
            let element = (index == 0 ? "" : separator + " ") + tuple[index]
            expression = index >= minItems ? " (\(element)\(expression))?" : " \(element)\(expression)"
        }
        return "\(open)\(expression) \(close)"
    }

    mutating func visitObjectType(_ schema: JSONValue, pointer: String, depth: Int) throws(GrammarError) -> String {
        let space = primitive("space")
        var properties: [(String, JSONValue)] = []
        if let value = schema["properties"] {
            guard case .object(let members) = value else { throw fail("properties must be an object", pointer + "/properties") }
            properties = members
        }
        var required: Set<String> = []
        if let value = schema["required"] {
            guard case .array(let names) = value else { throw fail("required must be an array", pointer + "/required") }
            for (index, name) in names.enumerated() {
                guard case .string(let text) = name else { throw fail("required names must be strings", pointer + "/required/\(index)") }
                required.insert(text)
                if !properties.contains(where: { $0.0 == text }) && schema["additionalProperties"].map({ $0 == .bool(false) }) ?? !properties.isEmpty
                {
                    throw fail("required property '\(text)' is not allowed by the schema", pointer + "/required/\(index)")
                }
            }
        }
        // Additional keys: any when the schema has no `properties`, else only if allowed.
        var additional: String?
        switch schema["additionalProperties"] {
        case .none: additional = properties.isEmpty ? primitive("value") : nil
        case .bool(false)?: additional = nil
        case .bool(true)?: additional = primitive("value")
        case .some(let extra):
            additional = addRule(ruleHint(pointer) + "-additional", try visit(extra, pointer: pointer + "/additionalProperties", depth: depth + 1))
        }
        var pairs: [(rule: String, required: Bool)] = []
        for (name, propertySchema) in properties {
            let propertyPointer = pointer + "/properties/" + Self.escape(name)
            let value = try visit(propertySchema, pointer: propertyPointer, depth: depth + 1)
            let body = SchemaPrimitives.literal(JSONValue.string(name).serialized) + " " + space + " \":\" " + space + " " + value
            pairs.append((addRule(ruleHint(pointer) + "-" + name + "-kv", body), required.contains(name)))
        }
        if let additional {
            // Additional keys exclude the declared ones, so a declared property cannot come back
            // with another type under the additional schema.
            let key = properties.isEmpty ? primitive("string") : addRule(ruleHint(pointer) + "-additional-key", notKeys(properties.map(\.0)))
            let body = key + " \":\" " + space + " " + additional
            let rule = addRule(ruleHint(pointer) + "-additional-kv", body)
            pairs.append((addRule(ruleHint(pointer) + "-additional-kvs", "\(rule) (\",\" \(space) \(rule))*"), false))
        }
        let separator = "\",\" " + space
        // after(i): the members from i on when one has been written (so each needs a comma);
        // first(i): the same when none has, so the first one written has none.
        var after = ""
        var first = ""
        for (rule, isRequired) in pairs.reversed() {
            let newAfter = isRequired ? " \(separator) \(rule)\(after)" : " (\(separator) \(rule))?\(after)"
            let newFirst = isRequired ? " \(rule)\(after)" : (first.isEmpty ? " (\(rule)\(after))?" : " (\(rule)\(after) |\(first))")
            after = newAfter
            first = newFirst
            if after.utf8.count > 4096 { after = " " + addRule(ruleHint(pointer) + "-rest", after) }
            if first.utf8.count > 4096 { first = " " + addRule(ruleHint(pointer) + "-members", first) }
        }
        return "\"{\" \(space)\(first) \"}\" \(space)"
    }

    /// A JSON string (with its quotes and trailing space) whose content is none of `keys`, written
    /// as a trie of the keys: at each node the string may end (unless a key ends there), go on with
    /// a character no key continues with, or follow a key's next character.
    mutating func notKeys(_ keys: [String]) -> String {
        _ = primitive("char")
        let space = primitive("space")
        // Keys as their JSON-encoded characters (each a GBNF literal of one encoded character).
        let encoded: [[String]] = keys.map { key in
            key.unicodeScalars.map { scalar in
                let text = JSONValue.string(String(scalar)).serialized
                return String(text.dropFirst().dropLast())
            }
        }
        func node(_ prefixes: [[String]], depth: Int) -> String {
            let endsHere = prefixes.contains { $0.count == depth }
            var children: [String: [[String]]] = [:]
            var order: [String] = []
            for key in prefixes where key.count > depth {
                if children[key[depth]] == nil { order.append(key[depth]) }
                children[key[depth], default: []].append(key)
            }
            var alternatives: [String] = []
            if !endsHere { alternatives.append("\"\\\"\"") }
            // A character no key continues with here: a plain one outside the children, or an escape.
            let plainChildren = order.filter { $0.unicodeScalars.count == 1 }.map { $0.unicodeScalars.first!.value }
            let excluded = plainChildren.map { SchemaPrimitives.classCharacter($0) }.joined()
            var other = "[^\"\\\\\\x7F\\x00-\\x1F\(excluded)]"
            if !order.contains(where: { $0.hasPrefix("\\") }) {
                other = "(\(other) | [\\\\] ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}))"
            }
            alternatives.append("\(other) char* \"\\\"\"")
            for character in order {
                alternatives.append(SchemaPrimitives.literal(character) + " (" + node(children[character]!, depth: depth + 1) + ")")
            }
            return alternatives.joined(separator: " | ")
        }
        return "\"\\\"\" (" + node(encoded, depth: 0) + ") " + space
    }
}

extension JSONValue {
    fileprivate var isArray: Bool {
        if case .array = self { return true }
        return false
    }
}
