import KilnImage
import KilnJSON

/// A validated `POST /v1/images/generations` body: OpenAI's fields (`prompt`, `model`, `n`,
/// `size`, `response_format`, `stream`, `partial_images`, `output_format`) and Kiln's extensions
/// (`negative_prompt`, `steps`, `guidance_scale`, `sampler`, `scheduler`, `seed`,
/// `partial_image_interval`). Every failure is a 400 naming the parameter.
public struct ImageGenerationRequest: Sendable {
    /// Limits that are settings of the server.
    public struct Limits: Sendable {
        /// Most images in one request.
        public var maxN = 4
        /// Longest side in pixels.
        public var maxSide = 1024
        /// Most denoising steps.
        public var maxSteps = 150
        public var maxGuidanceScale = 50.0
        public var maxPromptCharacters = 10_000
        /// Steps when a request gives none.
        public var defaultSteps = 20
        /// Preview every this many steps when a streamed request names no interval (0: none).
        public var defaultPreviewInterval = 5
        public init() {}
    }

    public var prompt: String
    public var model: String?
    public var n = 1
    /// Pixels; nil means the model's native size (`size` absent or `auto`).
    public var width: Int?
    public var height: Int?
    public var negativePrompt = ""
    public var steps: Int
    public var guidanceScale: Double
    public var sampler: SamplerKind
    public var spacing = SigmaSpacing.default
    public var seed: UInt64?
    public var stream = false
    /// Most previews per image (OpenAI's `partial_images`), nil when not given.
    public var partialImages: Int?
    /// Steps between previews; 0 when the request asks for none.
    public var previewInterval = 0

    /// Reads and checks `body`. `sizeMultiple` is the pipeline's (8 for Stable Diffusion); the
    /// guidance scale and sampler default to the pipeline's (`ImagePipeline.defaultGuidanceScale`,
    /// `defaultSampler`).
    public init(
        body: JSONValue, limits: Limits, sizeMultiple: Int, defaultGuidanceScale: Double = 7.5,
        defaultSampler: SamplerKind = .euler
    ) throws {
        guidanceScale = defaultGuidanceScale
        sampler = defaultSampler
        let fields = try RequestFields(body)
        guard let prompt = try fields.string("prompt") else {
            throw APIError.invalid("'prompt' is required", param: "prompt")
        }
        guard !prompt.isEmpty else { throw APIError.invalid("'prompt' must not be empty", param: "prompt") }
        // Counted in Unicode scalars: a grapheme cluster can hold any number of them.
        guard prompt.unicodeScalars.count <= limits.maxPromptCharacters else {
            throw APIError.invalid("'prompt' is limited to \(limits.maxPromptCharacters) characters", param: "prompt")
        }
        self.prompt = prompt
        model = try fields.string("model")
        n = try fields.int("n", in: 1...limits.maxN) ?? 1
        if let size = try fields.string("size"), size != "auto" {
            (width, height) = try Self.parseSize(size, limits: limits, multiple: sizeMultiple)
        }
        switch try fields.string("response_format") ?? "b64_json" {
        case "b64_json": break
        case "url":
            throw APIError.invalid(
                "response_format 'url' is not supported: Kiln stores no images and returns them inline; use 'b64_json'",
                param: "response_format", code: "unsupported_response_format")
        case let other:
            throw APIError.invalid("'response_format' must be 'b64_json', not '\(other)'", param: "response_format")
        }
        if let format = try fields.string("output_format"), format != "png" {
            throw APIError.invalid("'output_format' must be 'png' (Kiln encodes PNG only), not '\(format)'", param: "output_format")
        }
        negativePrompt = try fields.string("negative_prompt") ?? ""
        guard negativePrompt.unicodeScalars.count <= limits.maxPromptCharacters else {
            throw APIError.invalid("'negative_prompt' is limited to \(limits.maxPromptCharacters) characters", param: "negative_prompt")
        }
        steps = try fields.int("steps", in: 1...limits.maxSteps) ?? min(limits.defaultSteps, limits.maxSteps)
        guidanceScale = try fields.double("guidance_scale", in: 0...limits.maxGuidanceScale) ?? guidanceScale
        if let name = try fields.string("sampler") {
            guard let kind = SamplerKind(rawValue: name) else {
                throw APIError.invalid(
                    "'sampler' must be one of \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")), not '\(name)'",
                    param: "sampler")
            }
            sampler = kind
        }
        if let name = try fields.string("scheduler") {
            guard let kind = SigmaSpacing(rawValue: name) else {
                throw APIError.invalid("'scheduler' must be 'default' or 'karras', not '\(name)'", param: "scheduler")
            }
            spacing = kind
        }
        if spacing == .karras && (sampler == .ddim || sampler == .eulerAncestral) {
            throw APIError.invalid("scheduler 'karras' works with the euler and dpm++2m samplers, not \(sampler.rawValue)", param: "scheduler")
        }
        if let value = fields.value("seed") {
            guard case .int(let number) = value else { throw fields.typeError("seed", "an integer", value) }
            seed = UInt64(bitPattern: Int64(number))
        }
        stream = try fields.bool("stream") ?? false
        partialImages = try fields.int("partial_images", in: 0...limits.maxSteps)
        if let interval = try fields.int("partial_image_interval", in: 0...limits.maxSteps) {
            previewInterval = interval
        } else if let count = partialImages {
            // Spread the previews over the run: `count` of them before the last step.
            previewInterval = count == 0 ? 0 : max(1, steps / (count + 1))
        } else if stream {
            previewInterval = limits.defaultPreviewInterval
        }
        if !stream && (partialImages ?? 0) > 0 {
            throw APIError.invalid("'partial_images' needs 'stream': true", param: "partial_images")
        }
        _ = try fields.string("user")
        try RequestFieldPolicy.acceptDefaultOnly(
            "quality", in: fields, reason: "Kiln's image models have one quality; only 'auto' or 'standard' is accepted"
        ) { $0 == "auto" || $0 == "standard" }
        try RequestFieldPolicy.acceptDefaultOnly(
            "background", in: fields, reason: "Kiln draws opaque images only; only 'auto' or 'opaque' is accepted"
        ) { $0 == "auto" || $0 == "opaque" }
        try fields.rejectUnread()
    }

    /// "WxH" with both sides positive multiples of `multiple` and within `maxSide`.
    static func parseSize(_ size: String, limits: Limits, multiple: Int) throws -> (Int, Int) {
        let parts = size.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]) else {
            throw APIError.invalid("'size' must look like '512x512' (width x height in pixels) or 'auto', not '\(size)'", param: "size")
        }
        guard width >= multiple, height >= multiple, width % multiple == 0, height % multiple == 0 else {
            throw APIError.invalid("'size' \(size): width and height must be positive multiples of \(multiple)", param: "size")
        }
        guard width <= limits.maxSide, height <= limits.maxSide else {
            throw APIError.invalid("'size' \(size) exceeds the largest side this server draws (\(limits.maxSide) pixels)", param: "size")
        }
        return (width, height)
    }
}
