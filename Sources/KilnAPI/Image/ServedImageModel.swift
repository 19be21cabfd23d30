import KilnImage
import KilnTokenizer

/// One image model `/v1/images/generations` serves, by the family its requests are read for: a
/// diffusion pipeline (steps, guidance, sampler apply) or a GAN (one step: the seed picks the
/// latent, and a request naming steps, a sampler, a schedule, guidance or a negative prompt is a
/// 400 naming that member, since the model has none of them).
public enum ServedImageModel: Sendable {
    case diffusion(ImagePipeline)
    case gan(GANPipeline)

    /// Members of a request body that a GAN has no use for; each is refused by name.
    static let diffusionOnlyMembers = ["steps", "sampler", "scheduler", "guidance_scale", "negative_prompt"]

    /// What the scheduler's image lane drives.
    public var engine: any SteppedImageModel {
        switch self {
        case .diffusion(let pipeline): return pipeline
        case .gan(let pipeline): return pipeline
        }
    }

    var tokenizer: CLIPTokenizer {
        switch self {
        case .diffusion(let pipeline): return pipeline.tokenizer
        case .gan(let pipeline): return pipeline.tokenizer
        }
    }

    /// The size of a request that names none.
    public var nativeSize: Int {
        switch self {
        case .diffusion(let pipeline): return pipeline.nativeSize
        case .gan(let pipeline): return pipeline.imageSize
        }
    }

    var maxPixels: Int {
        switch self {
        case .diffusion(let pipeline): return pipeline.limits.maxPixels
        case .gan(let pipeline): return pipeline.imageSize * pipeline.imageSize
        }
    }
}
