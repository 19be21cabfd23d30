import KilnAPI
import KilnJSON
import Testing

@Suite struct RequestValidationTests {
    func chat(_ json: String) throws -> ChatCompletionRequest {
        try ChatCompletionRequest(body: try JSONParser().parse(json))
    }

    func completion(_ json: String) throws -> CompletionRequest {
        try CompletionRequest(body: try JSONParser().parse(json))
    }

    /// The parameter an invalid request is blamed on, and its status.
    func blamed(_ body: () throws -> Void) -> (Int, String?)? {
        do {
            try body()
            return nil
        } catch let error as APIError { return (error.status, error.param) } catch { return nil }
    }

    @Test func acceptsAFullChatRequest() throws {
        let request = try chat(
            #"""
            {"model":"m","messages":[{"role":"system","content":"be brief"},
             {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
             "max_tokens":16,"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"seed":7,
             "stop":["\n\n","END"],"logit_bias":{"42":-100},"n":2,"logprobs":true,"top_logprobs":3,
             "stream":true,"stream_options":{"include_usage":true},"presence_penalty":null}
            """#)
        #expect(request.model == "m")
        #expect(request.messages[1]["content"] == "a\nb")
        #expect(request.options.maxTokens == 16)
        #expect(request.options.stop == ["\n\n", "END"])
        #expect(request.options.logitBias == [42: -100])
        #expect(request.options.topLogprobs == 3)
        #expect(request.options.includeUsageInStream)
        #expect(request.options.seed == 7)
        #expect(request.options.presencePenalty == 0)
    }

    @Test(arguments: [
        (#"[1,2]"#, nil as String?),
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"m"}"#, "messages"),
        (#"{"model":"m","messages":[]}"#, "messages"),
        (#"{"model":"m","messages":"hi"}"#, "messages"),
        (#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","messages":[{"role":"user"}]}"#, "messages[0].content"),
        (#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, "messages[0].content"),
        (#"{"model":7,"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"10"}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":2.5}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":1.5}"#, "top_p"),
        // 0 is outside the sampler's domain (it answered 500 before; found by schemathesis).
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0}"#, "top_p"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"typical_p":0}"#, "typical_p"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"repeat_penalty":0}"#, "repeat_penalty"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":1e-300}"#, "top_p"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_k":-1}"#, "top_k"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":3}"#, "presence_penalty"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#, "stop"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[""]}"#, "stop"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":7}"#, "stop"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"x":1}}"#, "logit_bias"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"1":500}}"#, "logit_bias"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#, "n"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":1000}"#, "n"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}"#, "top_logprobs"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":99}"#, "top_logprobs"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"seed":1.5}"#, "seed"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, "stream"),
    ])
    func rejectsInvalidChat(json: String, param: String?) {
        let result = blamed { _ = try chat(json) }
        #expect(result?.0 == 400, "\(json)")
        #expect(result?.1 == param, "\(json)")
    }

    @Test func promptShapes() throws {
        #expect(try completion(#"{"model":"m","prompt":"hi"}"#).prompts == [.text("hi")])
        #expect(try completion(#"{"model":"m","prompt":[1,2,3]}"#).prompts == [.tokens([1, 2, 3])])
        #expect(try completion(#"{"model":"m","prompt":["a","b"]}"#).prompts == [.text("a"), .text("b")])
        #expect(try completion(#"{"model":"m","prompt":[[1],[2,3]]}"#).prompts == [.tokens([1]), .tokens([2, 3])])
        #expect(try completion(#"{"model":"m","prompt":"x","logprobs":2}"#).options.topLogprobs == 2)
    }

    @Test(arguments: [
        (#"{"model":"m"}"#, "prompt"),
        (#"{"model":"m","prompt":[]}"#, "prompt"),
        (#"{"model":"m","prompt":[-1]}"#, "prompt"),
        (#"{"model":"m","prompt":[1.5]}"#, "prompt"),
        (#"{"model":"m","prompt":{"a":1}}"#, "prompt"),
        (#"{"model":"m","prompt":"x","suffix":"y"}"#, "suffix"),
        (#"{"model":"m","prompt":["a","b","c"],"n":4}"#, "n"),
    ])
    func rejectsInvalidCompletion(json: String, param: String) {
        let result = blamed { _ = try completion(json) }
        #expect(result?.0 == 400, "\(json)")
        #expect(result?.1 == param, "\(json)")
    }

    @Test func errorBodyHasOpenAIShape() throws {
        let error = APIError.invalid("bad", param: "n")
        #expect(error.body(requestID: nil).serialized == #"{"error":{"message":"bad","type":"invalid_request_error","param":"n","code":null}}"#)
    }
}
