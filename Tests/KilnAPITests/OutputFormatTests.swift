import KilnJSON
import Testing

@testable import KilnAPI

/// Reading `response_format`, `grammar` and `json_schema` into an `OutputFormat`.
@Suite struct OutputFormatTests {
    func format(_ extra: String) throws -> OutputFormat? {
        let body = #"{"model":"m","messages":[{"role":"user","content":"x"}],"# + extra + "}"
        return try ChatCompletionRequest(body: try JSONParser().parse(body)).options.outputFormat
    }

    func refusal(_ extra: String) -> APIError? {
        do {
            _ = try format(extra)
            return nil
        } catch let error as APIError { return error } catch { return nil }
    }

    @Test func eachShapeGivesItsFormat() throws {
        let schema: JSONValue = ["type": "object"]
        #expect(try format(#""response_format":{"type":"text"}"#) == nil)
        #expect(try format(#""response_format":{"type":"json_object"}"#) == .jsonObject)
        #expect(
            try format(#""response_format":{"type":"json_schema","json_schema":{"name":"pet_1","strict":true,"schema":{"type":"object"}}}"#)
                == .jsonSchema(schema, strict: true, param: "response_format.json_schema.schema"))
        // OpenAI's schema is optional: without one, any object.
        #expect(try format(#""response_format":{"type":"json_schema","json_schema":{"name":"a"}}"#) == .jsonObject)
        // llama.cpp's extensions.
        #expect(
            try format(#""response_format":{"type":"json_object","schema":{"type":"object"}}"#)
                == .jsonSchema(schema, strict: false, param: "response_format.schema"))
        #expect(try format(#""grammar":"root ::= \"a\"""#) == .grammar(#"root ::= "a""#))
        #expect(try format(#""json_schema":{"type":"object"}"#) == .jsonSchema(schema, strict: false, param: "json_schema"))
    }

    @Test(arguments: [
        (#""response_format":{"type":"xml"}"#, "response_format.type"),
        (#""response_format":{}"#, "response_format.type"),
        (#""response_format":"json""#, "response_format"),
        (#""response_format":{"type":"json_schema"}"#, "response_format.json_schema"),
        (#""response_format":{"type":"json_schema","json_schema":{"schema":{}}}"#, "response_format.json_schema.name"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"a b"}}"#, "response_format.json_schema.name"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"a","schema":[]}}"#, "response_format.json_schema.schema"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"a","strict":"yes"}}"#, "response_format.json_schema.strict"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"a","shema":{}}}"#, "response_format.json_schema.shema"),
        (#""response_format":{"type":"text","schema":{}}"#, "response_format.schema"),
        (#""grammar":7"#, "grammar"),
        (#""json_schema":"{}""#, "json_schema"),
        (#""grammar":"root ::= \"a\"","json_schema":{}"#, "json_schema"),
        (#""response_format":{"type":"json_object"},"ignore_eos":true"#, "ignore_eos"),
    ])
    func badFormatsAreRefusedNamingTheMember(extra: String, param: String) throws {
        let error = try #require(refusal(extra))
        #expect(error.status == 400)
        #expect(error.param == param, "\(error.message)")
    }
}

/// JSON answers end with their value: whitespace after it is held back while it may still be
/// inside the value, and dropped at the end.
@Suite struct TrailingWhitespaceTrimmerTests {
    @Test func whitespaceIsSentOnlyWhenTextFollowsIt() {
        var trimmer = TrailingWhitespaceTrimmer()
        var sent = ""
        for piece in ["{\n", "  \"a\"", ":", " ", "1", "\n", "}", "\n\n", " "] { sent += trimmer.append(piece) }
        #expect(sent == "{\n  \"a\": 1\n}")
        #expect(trimmer.append(" x") == "\n\n  x")
    }
}
