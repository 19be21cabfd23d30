import KilnTensor

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

    /// Runs each sample through `predict(_:timestep:context:contextTokens:)`. With two or more
    /// samples the samples themselves are spread over the model's kernel pool, one per thread, and each
    /// sample's kernels run on its thread alone (the pool, busy with the batch, runs nested calls
    /// inline): small layers need no splitting, and the threads meet only to share the packing of
    /// each weight (`PackingTeam`), so that every weight is converted once per batch.
    /// A sample's arithmetic is the same either way, so results never depend on the batch.
    public func predict(batch samples: [FeatureMap], timesteps: [Double], contexts: [[Float]], contextTokens: Int) throws -> [FeatureMap] {
        guard samples.count == timesteps.count, samples.count == contexts.count else {
            throw ImageError.invalidRequest(
                "a denoiser batch needs one timestep and one context per sample (\(samples.count) samples, \(timesteps.count) timesteps, \(contexts.count) contexts)"
            )
        }
        return try predictEach(samples.count) { index in
            try predict(samples[index], timestep: timesteps[index], context: contexts[index], contextTokens: contextTokens)
        }
    }

    /// `body(i)` for i in 0..<count: one after the other for a single sample (whose kernels use
    /// the whole pool), else samples side by side on the pool's threads, sharing weight packings.
    func predictEach(_ count: Int, _ body: (Int) throws -> FeatureMap) throws -> [FeatureMap] {
        if count < 2 || kernels.width < 2 {
            return try (0..<count).map(body)
        }
        var results = [Result<FeatureMap, Error>?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { slots in
            PackingTeam.runSamples(count, context: kernels) { index in
                slots[index] = Result { try body(index) }
            }
        }
        return try results.map { try $0!.get() }
    }
}
