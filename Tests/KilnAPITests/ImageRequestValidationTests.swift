import KilnAPI
import KilnImage
import KilnJSON
import Testing

/// `POST /v1/images/generations` bodies: what is accepted, and which parameter a bad one is blamed on.
@Suite struct ImageRequestValidationTests {
    func parse(_ json: String, limits: ImageGenerationRequest.Limits = .init()) throws -> ImageGenerationRequest {
        try ImageGenerationRequest(body: try JSONParser().parse(json), limits: limits, sizeMultiple: 8)
    }

    /// Status and parameter of the error a body gets, nil if accepted.
    func blamed(_ json: String, limits: ImageGenerationRequest.Limits = .init()) -> (Int, String?)? {
        do {
            _ = try parse(json, limits: limits)
            return nil
        } catch let error as APIError {
            return (error.status, error.param)
        } catch {
            return (-1, "\(error)")
        }
    }

    @Test func acceptsEveryFieldAndExtension() throws {
        let request = try parse(
            #"""
            {"prompt":"a lighthouse","model":"tiny-sd","n":2,"size":"512x384","response_format":"b64_json",
             "negative_prompt":"fog","steps":30,"guidance_scale":5.5,"sampler":"dpm++2m","scheduler":"karras",
             "seed":-1,"stream":true,"partial_images":2,"output_format":"png","user":"u","quality":"auto"}
            """#)
        #expect(request.prompt == "a lighthouse" && request.model == "tiny-sd" && request.n == 2)
        #expect(request.width == 512 && request.height == 384)
        #expect(request.negativePrompt == "fog" && request.steps == 30 && request.guidanceScale == 5.5)
        #expect(request.sampler == .dpmSolverPlusPlus2M && request.spacing == .karras)
        #expect(request.seed == UInt64.max)
        #expect(request.stream && request.partialImages == 2 && request.previewInterval == 10)
    }

    @Test func guidanceAndSamplerDefaultToThePipelines() throws {
        let json = try JSONParser().parse(#"{"prompt":"x"}"#)
        let dit = try ImageGenerationRequest(body: json, limits: .init(), sizeMultiple: 4, defaultGuidanceScale: 4.5, defaultSampler: .ddim)
        #expect(dit.guidanceScale == 4.5 && dit.sampler == .ddim)
        let chosen = try ImageGenerationRequest(
            body: try JSONParser().parse(#"{"prompt":"x","guidance_scale":7,"sampler":"euler"}"#),
            limits: .init(), sizeMultiple: 4, defaultGuidanceScale: 4.5, defaultSampler: .ddim)
        #expect(chosen.guidanceScale == 7 && chosen.sampler == .euler)
    }

    @Test func defaultsComeFromTheLimits() throws {
        var limits = ImageGenerationRequest.Limits()
        limits.defaultSteps = 12
        limits.defaultPreviewInterval = 3
        let plain = try parse(#"{"prompt":"x"}"#, limits: limits)
        #expect(plain.width == nil && plain.height == nil && plain.n == 1 && plain.steps == 12)
        #expect(plain.sampler == .euler && plain.spacing == .default && plain.seed == nil)
        #expect(plain.previewInterval == 0, "no previews without streaming")
        #expect(try parse(#"{"prompt":"x","stream":true}"#, limits: limits).previewInterval == 3)
        #expect(try parse(#"{"prompt":"x","stream":true,"partial_image_interval":4}"#, limits: limits).previewInterval == 4)
        #expect(try parse(#"{"prompt":"x","stream":true,"partial_images":0}"#, limits: limits).previewInterval == 0)
        #expect(try parse(#"{"prompt":"x","size":"auto","model":null}"#).width == nil)
    }

    @Test func badSizesAreRefusedNamingSize() {
        for size in ["65x64", "64x60", "0x64", "64", "64x64x64", "x64", "big", "-64x64", "2048x64", "64X64"] {
            #expect(blamed(#"{"prompt":"x","size":"\#(size)"}"#)! == (400, "size"), "\(size)")
        }
        var limits = ImageGenerationRequest.Limits()
        limits.maxSide = 256
        #expect(blamed(#"{"prompt":"x","size":"264x64"}"#, limits: limits)! == (400, "size"))
        #expect(blamed(#"{"prompt":"x","size":256}"#)! == (400, "size"))
    }

    @Test func urlResponseFormatIsAClear400() throws {
        do {
            _ = try parse(#"{"prompt":"x","response_format":"url"}"#)
            Issue.record("url was accepted")
        } catch let error as APIError {
            #expect(error.status == 400 && error.param == "response_format")
            #expect(error.message.contains("b64_json"))
        }
        #expect(blamed(#"{"prompt":"x","response_format":"jpeg"}"#)! == (400, "response_format"))
        #expect(blamed(#"{"prompt":"x","output_format":"webp"}"#)! == (400, "output_format"))
    }

    @Test func everyOtherBadFieldIsBlamedOnItself() {
        var limits = ImageGenerationRequest.Limits()
        limits.maxN = 3
        let cases: [(String, String?)] = [
            (#"{}"#, "prompt"), (#"{"prompt":""}"#, "prompt"), (#"{"prompt":7}"#, "prompt"),
            (#"{"prompt":"x","n":4}"#, "n"), (#"{"prompt":"x","n":0}"#, "n"), (#"{"prompt":"x","n":"2"}"#, "n"),
            (#"{"prompt":"x","steps":0}"#, "steps"), (#"{"prompt":"x","steps":151}"#, "steps"),
            (#"{"prompt":"x","guidance_scale":-1}"#, "guidance_scale"), (#"{"prompt":"x","guidance_scale":51}"#, "guidance_scale"),
            (#"{"prompt":"x","sampler":"heun"}"#, "sampler"), (#"{"prompt":"x","scheduler":"exponential"}"#, "scheduler"),
            (#"{"prompt":"x","sampler":"ddim","scheduler":"karras"}"#, "scheduler"),
            (#"{"prompt":"x","sampler":"euler_a","scheduler":"karras"}"#, "scheduler"),
            (#"{"prompt":"x","seed":1.5}"#, "seed"), (#"{"prompt":"x","stream":"yes"}"#, "stream"),
            (#"{"prompt":"x","partial_images":2}"#, "partial_images"), (#"{"prompt":"x","negative_prompt":3}"#, "negative_prompt"),
            (#"[1,2]"#, nil),
        ]
        for (body, param) in cases {
            let outcome = blamed(body, limits: limits)
            #expect(outcome?.0 == 400 && outcome?.1 == param, "\(body) → \(String(describing: outcome))")
        }
    }
}
