/// The network at the heart of a diffusion pipeline: given noisy latents, a timestep and a text
/// conditioning, it predicts the noise (ε) or velocity (v) that the sampler steps with.
///
/// One call takes a whole batch, and every sample carries its own timestep and context, so that a
/// scheduler can advance several generations (each at its own step, each with both halves of
/// classifier-free guidance) in one call. Implementations must keep each sample's arithmetic
/// independent of the rest of the batch: the same sample gives the same output alone or batched.
public protocol Denoiser: AnyObject {
    /// Channels of the samples it takes (and of the predictions it returns).
    var inChannels: Int { get }
    /// Width of each context token (the text encoder's width).
    var contextWidth: Int { get }
    /// Sample sides must be multiples of this (1 for a UNet; the patch size for a transformer).
    var sampleSideMultiple: Int { get }

    /// One noise prediction per sample: samples[i] at timesteps[i] with contexts[i] ([contextTokens, width]).
    func predict(batch samples: [FeatureMap], timesteps: [Double], contexts: [[Float]], contextTokens: Int) throws -> [FeatureMap]
}

extension PixArtTransformer2DModel: Denoiser {
    public var sampleSideMultiple: Int { patchSize }
}

extension UNet2DConditionModel: Denoiser {
    /// The UNet matches odd sizes on its way up, as diffusers does: any side works.
    public var sampleSideMultiple: Int { 1 }

    /// Runs the samples one after the other through `predict(_:timestep:context:contextTokens:)`:
    /// the kernels already spread each sample over the worker pool, and per-sample runs keep the
    /// results independent of the batch.
    public func predict(batch samples: [FeatureMap], timesteps: [Double], contexts: [[Float]], contextTokens: Int) throws -> [FeatureMap] {
        guard samples.count == timesteps.count, samples.count == contexts.count else {
            throw ImageError.invalidRequest("a denoiser batch needs one timestep and one context per sample (\(samples.count) samples, \(timesteps.count) timesteps, \(contexts.count) contexts)")
        }
        var outputs: [FeatureMap] = []
        outputs.reserveCapacity(samples.count)
        for index in samples.indices {
            outputs.append(try predict(samples[index], timestep: timesteps[index], context: contexts[index], contextTokens: contextTokens))
        }
        return outputs
    }
}
