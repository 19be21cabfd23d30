import KilnImage
import KilnTokenizer

/// One image model `/v1/images/generations` serves, by the family its requests are read for: a
/// diffusion pipeline (steps, guidance, sampler apply), a GAN (one step: the seed picks the
/// latent, and a request naming steps, a sampler, a schedule, guidance or a negative prompt is a
/// 400 naming that member, since the model has none of them), or an autoregressive–diffusion
/// hybrid (steps are DDIM steps per band, guidance applies; a sampler other than DDIM, a schedule
/// other than the default and a negative prompt are 400s naming the member).
public enum ServedImageModel: Sendable {
    case diffusion(ImagePipeline)
    case gan(GANPipeline)
    case hybrid(MADFormerPipeline)

    /// Members of a request body that a GAN has no use for; each is refused by name.
    static let diffusionOnlyMembers = ["steps", "sampler", "scheduler", "guidance_scale", "negative_prompt"]

    /// What the scheduler's image lane drives.
    public var engine: any SteppedImageModel {
        switch self {
        case .diffusion(let pipeline): return pipeline
        case .gan(let pipeline): return pipeline
        case .hybrid(let pipeline): return pipeline
        }
    }

    var tokenizer: CLIPTokenizer {
        switch self {
        case .diffusion(let pipeline): return pipeline.tokenizer
        case .gan(let pipeline): return pipeline.tokenizer
        case .hybrid(let pipeline): return pipeline.tokenizer
        }
    }

    /// The size of a request that names none.
    public var nativeSize: Int {
        switch self {
        case .diffusion(let pipeline): return pipeline.nativeSize
        case .gan(let pipeline): return pipeline.imageSize
        case .hybrid(let pipeline): return pipeline.imageSize
        }
    }

    var maxPixels: Int {
        switch self {
        case .diffusion(let pipeline): return pipeline.limits.maxPixels
        case .gan(let pipeline): return pipeline.imageSize * pipeline.imageSize
        case .hybrid(let pipeline): return pipeline.imageSize * pipeline.imageSize
        }
    }

    /// The scheduler steps of a job whose request asks for `steps`: a hybrid takes that many per band.
    func jobSteps(_ steps: Int) -> Int {
        switch self {
        case .diffusion, .gan: return steps
        case .hybrid(let pipeline): return pipeline.blockCount * steps
        }
    }
}
