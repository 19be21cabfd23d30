import KilnGrammar
import KilnJSON
import Testing

@Suite struct JSONSchemaCompilerTests {
    let compiler = GrammarCompiler()

    func grammar(_ schema: String) throws -> Grammar {
        try compiler.compile(.jsonSchema(try JSONParser().parse(schema)))
    }

    func expectMatches(_ schema: String, passing: [String], failing: [String]) throws {
        let compiled = try grammar(schema)
        for text in passing { #expect(GrammarTestSupport.matches(compiled, Array(text.utf8)), "\(schema) should accept \(text)") }
        for text in failing { #expect(!GrammarTestSupport.matches(compiled, Array(text.utf8)), "\(schema) should refuse \(text)") }
    }

    /// llama.cpp's conversion cases: those it converts must compile here, and those it refuses
    /// must be refused, except the ones listed with the reason Kiln differs.
    @Test func llamaCppConversionCases() throws {
        guard case .array(let cases)? = try GrammarTestSupport.fixture("schema-conversion.json")["cases"] else { return }
        let unsupported: [String: String] = [
            "unsupported regexp in a property": "llama.cpp drops a pattern it cannot translate; Kiln refuses it (400), never ignoring a constraint"
        ]
        #expect(cases.count >= 70)
        for testCase in cases {
            guard case .string(let name)? = testCase["name"], case .bool(let succeeds)? = testCase["succeeds"] else { continue }
            if unsupported[name] != nil { continue }
            var error: GrammarError?
            if let schema = testCase["schema"], schema != .null {
                do { _ = try compiler.compile(.jsonSchema(schema)) } catch let caught { error = caught }
            } else {
                error = .invalidSchema(message: "not JSON", pointer: "")
            }
            #expect((error == nil) == succeeds, "\(name): \(String(describing: error))")
        }
    }

    @Test func objectsRequiredOptionalAndAdditional() throws {
        let schema = #"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},"required":["b"]}"#
        try expectMatches(
            schema, passing: [#"{"b":"x"}"#, #"{"a":1,"b":"x"}"#, #"{"a": 1, "b": "x", "c": true}"#, #"{"b":"x","c":false}"#],
            failing: [#"{}"#, #"{"a":1}"#, #"{"b":"x","d":1}"#, #"{"b":"x",}"#, #"{,"b":"x"}"#, #"{"b":1}"#])
        try expectMatches(
            #"{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"number"}}"#,
            passing: [#"{}"#, #"{"a":1,"x":2.5}"#, #"{"x":2,"y":3}"#], failing: [#"{"x":"s"}"#])
        try expectMatches(#"{"type":"object"}"#, passing: [#"{"any":[1,{"b":null}]}"#], failing: [#"[]"#])
    }

    @Test func arraysTuplesAndCounts() throws {
        try expectMatches(
            #"{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}"#,
            passing: ["[1]", "[1,2,3]", "[ 1 , 2 ]"], failing: ["[]", "[1,2,3,4]", "[1.5]"])
        try expectMatches(
            #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}"#,
            passing: [#"["a",1]"#, #"["a"]"#, "[]"], failing: [#"["a",1,2]"#, #"[1]"#])
        try expectMatches(
            #"{"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"boolean"},"minItems":2}"#,
            passing: [#"["a",true]"#, #"["a",true,false]"#], failing: [#"["a"]"#, #"["a",1]"#])
    }

    @Test func enumConstUnionsAndNullable() throws {
        try expectMatches(#"{"enum":["red","green",3,null]}"#, passing: [#""red""#, "3", "null"], failing: [#""blue""#, "4"])
        try expectMatches(#"{"const":{"a":[1,2]}}"#, passing: [#"{"a":[1,2]}"#], failing: [#"{"a":[1]}"#])
        try expectMatches(#"{"type":["string","null"]}"#, passing: [#""x""#, "null"], failing: ["1"])
        try expectMatches(#"{"type":"integer","nullable":true}"#, passing: ["1", "null"], failing: [#""1""#])
        try expectMatches(
            #"{"anyOf":[{"type":"integer"},{"type":"array","items":{"type":"string"}}]}"#, passing: ["1", #"["a"]"#], failing: ["true"])
        try expectMatches(
            #"{"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},{"properties":{"b":{"type":"string"}},"required":["b"]}]}"#,
            passing: [#"{"a":1,"b":"x"}"#], failing: [#"{"a":1}"#, #"{"b":"x"}"#])
    }

    @Test func recursiveReferences() throws {
        let schema = #"""
            {"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"]}},
             "$ref":"#/$defs/node"}
            """#
        try expectMatches(
            schema, passing: [#"{"value":1}"#, #"{"value":1,"children":[{"value":2,"children":[]},{"value":3}]}"#],
            failing: [#"{"value":1,"children":[{}]}"#])
        // Recursion that never ends can produce no finite value.
        #expect(throws: GrammarError.self) {
            try grammar(##"{"type":"object","properties":{"next":{"$ref":"#"}},"required":["next"]}"##)
        }
    }

    /// Schemas as rules of written GBNF (how tool calls compile): each schema's `#` is its own
    /// rule, its rules avoid the written names, and a written rule may not take a JSON rule's name.
    @Test func schemasInsideWrittenGrammar() throws {
        let tree = try JSONParser().parse(
            ##"{"type":"object","properties":{"root":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#"},"maxItems":2}},"required":["root"]}"##
        )
        let flag = try JSONParser().parse(#"{"type":"object","properties":{"on":{"type":"boolean"}},"required":["on"]}"#)
        let written = #"root ::= "T" tree | "F" flag | root-1"# + "\n" + #"root-1 ::= "x""# + "\n"
        let grammar = try compiler.compile(
            .gbnfWithSchemas(written, schemas: [SchemaRule(name: "tree", schema: tree), SchemaRule(name: "flag", schema: flag)]))
        for text in [#"T{"root": 1, "kids": [{"root": 2}]}"#, #"F{"on": true}"#, "x"] {
            #expect(GrammarTestSupport.matches(grammar, Array(text.utf8)), "\(text)")
        }
        for text in [#"T{"root": 1, "kids": [{"on": true}]}"#, #"F{"root": 1}"#, "y"] {
            #expect(!GrammarTestSupport.matches(grammar, Array(text.utf8)), "\(text)")
        }
        #expect(throws: GrammarError.self) {
            try compiler.compile(.gbnfWithSchemas("root ::= string\nstring ::= \"s\"\n", schemas: [SchemaRule(name: "x", schema: flag)]))
        }
    }

    @Test func stringsLengthsPatternsAndFormats() throws {
        try expectMatches(
            #"{"type":"string","minLength":2,"maxLength":3}"#, passing: [#""ab""#, #""a\"c""#, #""éé""#], failing: [#""a""#, #""abcd""#])
        try expectMatches(
            #"{"type":"string","pattern":"^[A-Z]{2}-\\d{3,4}$"}"#, passing: [#""AB-123""#, #""XY-1234""#],
            failing: [#""AB-12""#, #""ab-123""#, #""AB-12345""#])
        try expectMatches(#"{"type":"string","pattern":"a(b|c)+"}"#, passing: [#""xxabcbyy""#, #""ab""#], failing: [#""a""#, #""xyz""#])
        try expectMatches(#"{"type":"string","pattern":"^\"\\\\$"}"#, passing: [#""\"\\""#], failing: [#""\"""#])
        try expectMatches(#"{"type":"string","format":"date"}"#, passing: [#""2024-02-29""#], failing: [#""2024-13-01""#, #""24-01-01""#])
        try expectMatches(
            #"{"type":"string","format":"date-time"}"#, passing: [#""2024-02-29T12:30:00Z""#, #""2024-02-29T23:59:59.123+01:00""#],
            failing: [#""2024-02-29 12:30:00""#])
        try expectMatches(#"{"type":"string","format":"time"}"#, passing: [#""12:30:00Z""#], failing: [#""25:00:00Z""#])
        try expectMatches(#"{"type":"string","format":"uuid"}"#, passing: [#""123e4567-e89b-12d3-a456-426614174000""#], failing: [#""123e4567""#])
        try expectMatches(#"{"type":"string","format":"email"}"#, passing: [#""a.b+c@example.co.uk""#], failing: [#""a@b""#, #""@example.com""#])
        for bad in [#"{"type":"string","pattern":"(a"}"#, #"{"type":"string","pattern":"a(?=b)"}"#, #"{"type":"string","pattern":"(a)\\1"}"#] {
            #expect(throws: GrammarError.self, "\(bad)") { try grammar(bad) }
        }
        var limits = GrammarLimits()
        limits.maxRegexStates = 100
        #expect(throws: GrammarError.self) {
            try GrammarCompiler(limits: limits).compile(.jsonSchema(try JSONParser().parse(#"{"type":"string","pattern":"^(a{10}){20}$"}"#)))
        }
    }

    @Test func integerBoundsAreExact() throws {
        let ranges: [(Int?, Int?)] = [(0, nil), (-5, 5), (7, 123), (nil, -3), (-120, -7), (100, 100), (9, 10), (-1, 0), (1, 1_000)]
        for (low, high) in ranges {
            var members: [(String, JSONValue)] = [("type", .string("integer"))]
            if let low { members.append(("minimum", .int(low))) }
            if let high { members.append(("maximum", .int(high))) }
            let compiled = try compiler.compile(.jsonSchema(.object(members)))
            for value in -1_300...1_300 {
                let inside = (low.map { value >= $0 } ?? true) && (high.map { value <= $0 } ?? true)
                #expect(GrammarTestSupport.matches(compiled, Array(String(value).utf8)) == inside, "\(low as Any)...\(high as Any): \(value)")
            }
            #expect(!GrammarTestSupport.matches(compiled, Array("01".utf8)))
            #expect(!GrammarTestSupport.matches(compiled, Array("-0".utf8)))
        }
        try expectMatches(#"{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":3}"#, passing: ["1", "2"], failing: ["0", "3"])
        #expect(throws: GrammarError.self) { try grammar(#"{"type":"integer","minimum":5,"maximum":4}"#) }
    }

    @Test func numberBoundsAreExact() throws {
        try expectMatches(
            #"{"type":"number","minimum":-2,"exclusiveMaximum":3}"#,
            passing: ["-2", "-2.0", "-1.5", "0", "2.999", "2"], failing: ["-2.01", "3", "3.0", "3.5", "-3", "1e2"])
        try expectMatches(#"{"type":"number","exclusiveMinimum":0}"#, passing: ["0.001", "5"], failing: ["0", "0.0", "-0.5"])
        #expect(throws: GrammarError.self) { try grammar(#"{"type":"number","minimum":0.5}"#) }
    }

    @Test func errorsCarryJSONPointers() throws {
        let cases: [(String, String)] = [
            (#"{"type":"object","properties":{"a/b":{"type":"wat"}}}"#, "/properties/a~1b/type"),
            (#"{"anyOf":[{"type":"string"},{"enum":[]}]}"#, "/anyOf/1/enum"),
            (##"{"$ref":"#/$defs/missing"}"##, "/$ref"),
            (#"{"type":"array","items":{"type":"string","pattern":"(x"}}"#, "/items/pattern"),
            (#"{"type":"string","minLength":3,"maxLength":2}"#, "/maxLength"),
            // Found by the schema fuzzer: errors inside merged allOf items and a single-schema prefixItems.
            (##"{"allOf":[{"type":"object"},{"anyOf":[{"$ref":"#/$defs/missing"}]}]}"##, "/allOf/1/anyOf/0/$ref"),
            (##"{"allOf":[{"$ref":"#/$defs/a"}],"$defs":{"a":{"properties":{"x":{"type":"wat"}}}}}"##, "/$defs/a/properties/x/type"),
            (#"{"type":"array","prefixItems":{"type":"wat"}}"#, "/prefixItems/type"),
        ]
        for (schema, pointer) in cases {
            do {
                _ = try grammar(schema)
                Issue.record("\(schema) compiled")
            } catch GrammarError.invalidSchema(_, let got) {
                #expect(got == pointer, "\(schema): \(got)")
            } catch {
                Issue.record("\(schema): \(error)")
            }
        }
        let strict = GrammarCompiler(rejectUnknownKeywords: true)
        do {
            _ = try strict.compile(
                .jsonSchema(try JSONParser().parse(#"{"type":"object","properties":{"a":{"type":"string","contentMediaType":"x"}}}"#)))
            Issue.record("unknown keyword accepted under strict")
        } catch GrammarError.invalidSchema(_, let pointer) {
            #expect(pointer == "/properties/a/contentMediaType")
        }
    }

    @Test func schemaLimits() throws {
        var limits = GrammarLimits()
        limits.maxSchemaNodes = 50
        var properties: [(String, JSONValue)] = []
        for index in 0..<30 { properties.append(("p\(index)", .object([("type", .string("string"))]))) }
        #expect(throws: GrammarError.self) {
            try GrammarCompiler(limits: limits).compile(.jsonSchema(.object([("type", .string("object")), ("properties", .object(properties))])))
        }
        var deep: JSONValue = .object([("type", .string("string"))])
        for _ in 0..<100 { deep = .object([("type", .string("array")), ("items", deep)]) }
        #expect(throws: GrammarError.self) { try GrammarCompiler().compile(.jsonSchema(deep)) }
    }
}
