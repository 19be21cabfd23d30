import Foundation
import KilnHTTP
import KilnImage
import KilnJSON
import KilnServe

/// `POST /v1/images/generations` over one or more image models (diffusion pipelines, GANs and
/// autoregressive–diffusion hybrids, by the request's `model`; `ServedImageModel`): validates the request, submits one
/// image job per requested image to the shared scheduler (which batches compatible jobs), and
/// answers with one JSON body or, with `stream: true`, Server-Sent Events (previews, then each
/// image, then `[DONE]`). A client that goes away cancels its jobs.
public final class ImageGenerationService: Sendable {
    /// Limits of the image API; each is a setting of `kiln serve`.
    public struct Settings: Sendable {
        public var request = ImageGenerationRequest.Limits()
        /// Wall-clock limit of one job, queued and running (nil: none).
        public var requestTimeout: Duration? = .seconds(600)
        public init() {}
    }

    /// The models served, the first the one a request that names none gets.
    public let models: [(id: String, model: ServedImageModel)]
    public let settings: Settings
    private let scheduler: Scheduler

    public init(models: [(id: String, model: ServedImageModel)], scheduler: Scheduler, settings: Settings = Settings()) {
        precondition(!models.isEmpty, "an image service serves at least one model")
        self.models = models
        self.scheduler = scheduler
        self.settings = settings
    }

    /// One diffusion pipeline.
    public convenience init(modelID: String, pipeline: ImagePipeline, scheduler: Scheduler, settings: Settings = Settings()) {
        self.init(models: [(modelID, .diffusion(pipeline))], scheduler: scheduler, settings: settings)
    }

    /// The id of the model a request that names none gets.
    public var modelID: String { models[0].id }

    /// Registers the image endpoint. `service` is asked on every request: nil (still loading) answers 503.
    public static func register(on router: Router, service: @escaping @Sendable () -> ImageGenerationService?) {
        router.post(
            "/v1/images/generations",
            serviceHandler(loadingMessage: "The image model is loading; retry shortly", service: service) { service, request, responder in
                try service.start(request, responder)
            })
    }

    /// The request as validated against the model it names and the settings, and that model.
    public func parse(_ body: [UInt8]) throws -> (request: ImageGenerationRequest, id: String, model: ServedImageModel) {
        let json: JSONValue
        do {
            json = try JSONParser().parse(body)
        } catch {
            throw APIError.invalid("The request body is not valid JSON: \(error)")
        }
        var served = models[0]
        if case .object(let members) = json, let named = members.first(where: { $0.0 == "model" })?.1, case .string(let name) = named {
            guard let found = models.first(where: { $0.id == name }) else { throw APIError.modelNotFound(name) }
            served = found
        }
        let parsed: ImageGenerationRequest
        switch served.model {
        case .diffusion(let pipeline):
            var limits = settings.request
            limits.maxSide = min(limits.maxSide, pipeline.limits.maxSide)
            // A sampler cannot take more steps than the schedule has training timesteps.
            limits.maxSteps = min(limits.maxSteps, pipeline.limits.maxSteps, pipeline.schedule.trainTimesteps)
            limits.maxPromptCharacters = min(limits.maxPromptCharacters, pipeline.limits.maxPromptCharacters)
            parsed = try ImageGenerationRequest(
                body: json, limits: limits, sizeMultiple: Self.leastCommonMultiple(8, pipeline.sizeMultiple),
                defaultGuidanceScale: pipeline.defaultGuidanceScale, defaultSampler: pipeline.defaultSampler)
            let width = parsed.width ?? pipeline.nativeSize, height = parsed.height ?? pipeline.nativeSize
            guard width * height <= pipeline.limits.maxPixels, max(width, height) <= limits.maxSide else {
                throw APIError.invalid(
                    "'size' \(width)x\(height) exceeds the limits (\(limits.maxSide) per side, \(pipeline.limits.maxPixels) pixels)",
                    param: "size")
            }
        case .gan(let pipeline):
            parsed = try Self.parseGAN(json, pipeline: pipeline, id: served.id, limits: settings.request)
        case .hybrid(let pipeline):
            parsed = try Self.parseHybrid(json, pipeline: pipeline, id: served.id, limits: settings.request)
        }
        return (parsed, served.id, served.model)
    }

    /// A GAN's request: what a diffusion model alone has is refused by name, the size is the
    /// generator's own, and the job takes one step.
    static func parseGAN(_ json: JSONValue, pipeline: GANPipeline, id: String, limits requestLimits: ImageGenerationRequest.Limits)
        throws -> ImageGenerationRequest
    {
        if case .object(let members) = json,
            let member = members.first(where: { ServedImageModel.diffusionOnlyMembers.contains($0.0) })?.0
        {
            throw APIError.invalid(
                "'\(member)' does not apply to \(id), a GAN that draws in one step (the seed picks its latent)", param: member,
                code: "unsupported_parameter")
        }
        var limits = requestLimits
        limits.maxSteps = 1
        limits.defaultSteps = 1
        limits.defaultPreviewInterval = 0
        limits.maxPromptCharacters = min(limits.maxPromptCharacters, pipeline.limits.maxPromptCharacters)
        let parsed = try ImageGenerationRequest(body: json, limits: limits, sizeMultiple: 8, defaultGuidanceScale: 0)
        try requireOwnSize(parsed, size: pipeline.imageSize, id: id)
        return parsed
    }

    /// A hybrid's request: `steps` are DDIM steps per band (default `MADFormerPipeline.defaultSteps`,
    /// at most the image lane's limit, as a diffusion model's), guidance applies (default
    /// `MADFormerPipeline.defaultGuidanceScale`); every band is sampled with DDIM and guided by the
    /// empty caption, so a `sampler` other than ddim, a `scheduler` other than default and a
    /// `negative_prompt` are refused by name; the size is the model's own. Previews count the job's
    /// steps (bands × steps): a streamed request that names no `partial_image_interval` gets one as
    /// each band but the last is finished, or `partial_images` of them spread over the whole run.
    static func parseHybrid(
        _ json: JSONValue, pipeline: MADFormerPipeline, id: String, limits requestLimits: ImageGenerationRequest.Limits
    ) throws -> ImageGenerationRequest {
        if case .object(let members) = json {
            for (member, value) in members {
                switch (member, value) {
                case ("sampler", .string("ddim")), ("scheduler", .string("default")): continue
                case ("sampler", _), ("scheduler", _), ("negative_prompt", _):
                    throw APIError.invalid(
                        "'\(member)' does not apply to \(id), a hybrid that samples each band with DDIM and guides with the empty caption",
                        param: member, code: "unsupported_parameter")
                default: continue
                }
            }
        }
        var limits = requestLimits
        limits.maxSteps = min(limits.maxSteps, pipeline.limits.maxSteps, pipeline.schedule.trainTimesteps)
        limits.defaultSteps = MADFormerPipeline.defaultSteps
        limits.maxPromptCharacters = min(limits.maxPromptCharacters, pipeline.limits.maxPromptCharacters)
        var parsed = try ImageGenerationRequest(
            body: json, limits: limits, sizeMultiple: 8, defaultGuidanceScale: MADFormerPipeline.defaultGuidanceScale,
            defaultSampler: .ddim)
        try requireOwnSize(parsed, size: pipeline.imageSize, id: id)
        if case .object(let members) = json, !members.contains(where: { $0.0 == "partial_image_interval" }) {
            let jobSteps = pipeline.blockCount * parsed.steps
            if let count = parsed.partialImages {
                parsed.previewInterval = count == 0 ? 0 : max(1, jobSteps / (count + 1))
            } else if parsed.stream {
                parsed.previewInterval = parsed.steps
            }
        }
        return parsed
    }

    /// A model that draws one size only (a GAN, the hybrid) takes that size or `auto`.
    static func requireOwnSize(_ parsed: ImageGenerationRequest, size: Int, id: String) throws {
        if (parsed.width ?? size) != size || (parsed.height ?? size) != size {
            throw APIError.invalid("'size' must be '\(size)x\(size)' or 'auto' for \(id), which draws that size only", param: "size")
        }
    }

    /// Sizes must suit both the API's rule (multiples of 8) and the pipeline's own.
    static func leastCommonMultiple(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }

    private func start(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let (parsed, modelID, model) = try parse(request.body)
        let width = parsed.width ?? model.nativeSize, height = parsed.height ?? model.nativeSize
        // Without a seed each request draws its own; image i uses seed + i so that images differ.
        let seed = parsed.seed ?? UInt64.random(in: .min ... .max)
        // The tokens the text encoder takes (it keeps maxLength − 2 between its start and end).
        let promptTokens = model.tokenizer.tokens(parsed.prompt, limit: model.tokenizer.maxLength - 2).count
        let run = ImageGenerationRun(
            count: parsed.n, stream: parsed.stream, partialImageLimit: parsed.partialImages,
            size: "\(width)x\(height)", promptTokens: promptTokens, responder: responder)
        run.submitJobs(count: parsed.n) { (index, onEvent) throws(ServeError) -> Job in
            let image = ImageRequest(
                prompt: parsed.prompt, negativePrompt: parsed.negativePrompt, width: width, height: height,
                steps: parsed.steps, guidanceScale: parsed.guidanceScale, sampler: parsed.sampler,
                spacing: parsed.spacing, seed: seed &+ UInt64(index))
            let job = ImageJobRequest(
                model: modelID, width: width, height: height, steps: model.jobSteps(parsed.steps), parameters: image,
                previewInterval: parsed.stream ? parsed.previewInterval : 0,
                timeout: settings.requestTimeout)
            return try scheduler.submitImage(job, onEvent: onEvent)
        }
    }
}
