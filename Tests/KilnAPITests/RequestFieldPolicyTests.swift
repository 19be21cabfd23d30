import KilnAPI
import KilnJSON
import Testing

/// `RequestFieldPolicy`: a member that would change the answer is never silently ignored.
@Suite struct RequestFieldPolicyTests {
    static let chatBase = #""model":"m","messages":[{"role":"user","content":"x"}]"#
    static let completionBase = #""model":"m","prompt":"x""#

    /// The APIError a body raises, or nil when it is accepted.
    func error(_ make: () throws -> Void) -> APIError? {
        do {
            try make()
            return nil
        } catch let error as APIError { return error } catch {
            Issue.record("not an APIError: \(error)")
            return nil
        }
    }

    func chatError(_ extra: String) -> APIError? {
        error { _ = try ChatCompletionRequest(body: try JSONParser().parse("{\(Self.chatBase),\(extra)}")) }
    }

    func completionError(_ extra: String) -> APIError? {
        error { _ = try CompletionRequest(body: try JSONParser().parse("{\(Self.completionBase),\(extra)}")) }
    }

    @Test(arguments: [
        #""metadata":{"k":"v"}"#, #""store":false"#, #""service_tier":"auto""#, #""parallel_tool_calls":true"#,
        #""prediction":{"type":"content","content":"x"}"#, #""cache_prompt":true"#, #""response_format":{"type":"text"}"#,
        #""tools":[]"#, #""tool_choice":"none""#, #""modalities":["text"]"#, #""tools":null"#, #""made_up":null"#,
        #""stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false}"#,
    ])
    func chatMembersWithoutEffectAreAccepted(extra: String) {
        #expect(chatError(extra) == nil)
    }

    @Test(arguments: [
        (#""modalities":["text","audio"]"#, "modalities"),
        (#""functions":[{"name":"f"}]"#, "functions"),
        (#""mirostat":2"#, "mirostat"),
        (#""reasoning_effort":"low""#, "reasoning_effort"),
    ])
    func chatMembersThatChangeTheAnswerAreRefusedByName(extra: String, param: String) throws {
        let error = try #require(chatError(extra))
        #expect(error.status == 400)
        #expect(error.param == param)
        #expect(error.code == "unsupported_parameter")
        #expect(error.message.contains("'\(param)' is not supported"))
    }

    @Test func unknownMembersGetOpenAIsAnswer() throws {
        let error = try #require(chatError(#""temprature":0.2"#))
        #expect(error.status == 400)
        #expect(error.message == "Unrecognized request argument supplied: temprature")
        #expect(error.param == "temprature")
        #expect(error.code == "unrecognized_argument")
        let nested = try #require(chatError(#""stream":true,"stream_options":{"include_usage":true,"chunk_size":3}"#))
        #expect(nested.param == "stream_options.chunk_size")
    }

    @Test func bestOfIsAcceptedOnlyWhenItEqualsN() throws {
        #expect(completionError(#""best_of":1"#) == nil)
        #expect(completionError(#""n":2,"best_of":2"#) == nil)
        let error = try #require(completionError(#""n":1,"best_of":3"#))
        #expect(error.param == "best_of")
        #expect(error.code == "unsupported_parameter")
    }

    @Test func completionsKeepTheirOwnMembersOnly() throws {
        #expect(completionError(#""echo":true,"logprobs":2,"user":"u""#) == nil)
        // A chat member on the completions endpoint is not a completions argument.
        let error = try #require(completionError(#""messages":[]"#))
        #expect(error.param == "messages")
        #expect(error.code == "unrecognized_argument")
    }

    @Test func imageMembersFollowThePolicy() throws {
        func imageError(_ extra: String) -> APIError? {
            error {
                _ = try ImageGenerationRequest(
                    body: try JSONParser().parse(#"{"prompt":"a red circle","# + extra + "}"), limits: .init(), sizeMultiple: 8)
            }
        }
        #expect(imageError(#""quality":"standard","background":"opaque","moderation":"low""#) == nil)
        #expect(try #require(imageError(#""quality":"hd""#)).param == "quality")
        #expect(try #require(imageError(#""background":"transparent""#)).param == "background")
        #expect(try #require(imageError(#""style":"vivid""#)).code == "unsupported_parameter")
        #expect(try #require(imageError(#""steps":4,"cfg":7"#)).code == "unrecognized_argument")
    }
}
