/// The step-wise form of `generate`, for a scheduler that interleaves and batches generations:
/// `prepare` (text encoding and starting noise), `step` (one denoising step of one or more
/// generations in one batched denoiser call), `decode` (VAE, or pixels as they are), and `preview` (cheap, any time).
extension ImagePipeline {
    /// Validates `request`, encodes its prompts and draws (or takes) its starting latents.
    public func prepare(_ request: ImageRequest) throws -> ImageGeneration {
        let width = request.width ?? nativeSize, height = request.height ?? nativeSize
        try validate(request, width: width, height: height)
        let key = ImageGeneration.BatchKey(
            latentChannels: latentChannels, latentHeight: height / vaeScale,
            latentWidth: width / vaeScale)
        let latentCount = key.latentChannels * key.latentHeight * key.latentWidth
        let sampler = try DiffusionSampler(kind: request.sampler, spacing: request.spacing, schedule: schedule, steps: request.steps)
        var noise = SeededNoise(seed: request.seed)
        var latents: [Float]
        if let given = request.initialLatents {
            guard given.count == latentCount else {
                throw ImageError.invalidRequest(
                    "initial latents hold \(given.count) values; \(key.latentChannels)×\(key.latentHeight)×\(key.latentWidth) = \(latentCount) needed"
                )
            }
            latents = given
        } else {
            latents = noise.gaussians(count: latentCount)
        }
        if let given = request.ancestralNoise, sampler.needsNoise,
            given.count < sampler.stepCount || given.contains(where: { $0.count != latentCount })
        {
            throw ImageError.invalidRequest("ancestral noise must hold \(sampler.stepCount) blocks of \(latentCount) values")
        }
        let initialScale = Float(sampler.initialNoiseScale)
        for index in latents.indices { latents[index] *= initialScale }

        let guided = request.guidanceScale > 1
        let positive = try encode(prompt: request.prompt, clipSkip: request.clipSkip)
        let negative = guided ? try encode(prompt: request.negativePrompt, clipSkip: request.clipSkip) : []
        return ImageGeneration(
            request: request, width: width, height: height, batchKey: key, latents: latents,
            sampler: sampler, noise: noise, contexts: guided ? [negative, positive] : [positive],
            contextTokens: tokenizer.maxLength)
    }

    /// Advances each generation by one step with ONE denoiser call over all of them (both halves
    /// of each guided generation included), each at its own timestep with its own guidance scale.
    /// They must share a `batchKey` and not be finished. A generation's result does not depend on
    /// the others in the call. On a throw no generation has moved.
    public func step(_ generations: [ImageGeneration]) throws {
        guard let first = generations.first else { return }
        for generation in generations {
            guard generation.batchKey == first.batchKey else {
                throw ImageError.invalidRequest("generations of different latent sizes cannot share a denoiser call")
            }
            guard !generation.isFinished else {
                throw ImageError.invalidRequest("a finished generation cannot take another step")
            }
        }
        for (index, generation) in generations.enumerated() where generations[..<index].contains(where: { $0 === generation }) {
            throw ImageError.invalidRequest("generation \(index) appears twice in one step")
        }
        let key = first.batchKey
        var samples: [FeatureMap] = [], timesteps: [Double] = [], contexts: [[Float]] = []
        let sampleCount = generations.reduce(0) { $0 + $1.samplesPerStep }
        samples.reserveCapacity(sampleCount)
        timesteps.reserveCapacity(sampleCount)
        contexts.reserveCapacity(sampleCount)
        for generation in generations {
            let step = generation.stepIndex
            let scale = generation.sampler.modelInputScale(step: step)
            let input = FeatureMap(
                values: generation.latents.map { $0 * scale }, channels: key.latentChannels,
                height: key.latentHeight, width: key.latentWidth)
            for context in generation.contexts {
                samples.append(input)
                timesteps.append(generation.sampler.timesteps[step])
                contexts.append(context)
            }
        }
        let outputs = try denoiser.predict(
            batch: samples, timesteps: timesteps, contexts: contexts,
            contextTokens: first.contextTokens)
        guard outputs.count == samples.count else {
            throw ImageError.invalidRequest("the denoiser returned \(outputs.count) predictions for \(samples.count) samples")
        }
        var offset = 0
        for generation in generations {
            var prediction = outputs[offset + generation.samplesPerStep - 1].values
            if generation.isGuided {
                let unconditional = outputs[offset].values
                let guidance = generation.guidanceScale
                for index in prediction.indices {
                    prediction[index] = unconditional[index] + guidance * (prediction[index] - unconditional[index])
                }
            }
            offset += generation.samplesPerStep
            try advance(generation, prediction: prediction)
        }
    }

    /// One sampler step of `generation` from the denoiser's (guided) prediction.
    private func advance(_ generation: ImageGeneration, prediction: [Float]) throws {
        let step = generation.stepIndex
        var stepNoise: [Float]? = nil
        if generation.sampler.needsNoise {
            if let given = generation.request.ancestralNoise {
                stepNoise = given[step]
            } else {
                stepNoise = generation.noise.gaussians(count: generation.latentCount)
            }
        }
        try generation.sampler.step(step, modelOutput: prediction, latents: &generation.latents, noise: stepNoise)
        generation.stepIndex += 1
    }

    /// The finished (or, for a preview of full quality, unfinished) generation's image.
    public func decode(_ generation: ImageGeneration) throws -> GeneratedImage {
        try decode(
            latents: generation.latents, latentWidth: generation.batchKey.latentWidth,
            latentHeight: generation.batchKey.latentHeight)
    }

    /// A cheap preview of where the generation stands: see `LatentPreview`.
    public func preview(_ generation: ImageGeneration) -> GeneratedImage {
        // Euler keeps latents at scale σ; bring them back to unit variance as the denoiser sees them.
        let scale = generation.isFinished ? 1 : generation.sampler.modelInputScale(step: generation.stepIndex)
        return LatentPreview.image(
            latents: generation.latents.map { $0 * scale }, channels: generation.batchKey.latentChannels,
            height: generation.batchKey.latentHeight, width: generation.batchKey.latentWidth)
    }
}
