import Foundation

/// The samplers Kiln offers, named as the API and the command line name them.
public enum SamplerKind: String, Sendable, CaseIterable {
    case ddim
    case euler
    case eulerAncestral = "euler_a"
    case dpmSolverPlusPlus2M = "dpm++2m"

    /// The timestep spacing of the matching diffusers scheduler class when its config names none:
    /// `DDIMScheduler`'s is leading; `EulerDiscreteScheduler`'s, `EulerAncestralDiscreteScheduler`'s
    /// and `DPMSolverMultistepScheduler`'s are linspace. (Stable Diffusion 2.x's published scheduler
    /// config names none.)
    public var defaultTimestepSpacing: NoiseSchedule.TimestepSpacing {
        self == .ddim ? .leading : .linspace
    }
}

/// Where a sampler puts its noise levels: diffusers' default for the sampler, or Karras et al.'s.
public enum SigmaSpacing: String, Sendable, CaseIterable {
    case `default`
    case karras
}

/// A sampler walking one denoising trajectory, equal to the matching diffusers scheduler
/// (`DDIMScheduler` with η = 0, `EulerDiscreteScheduler`, `EulerAncestralDiscreteScheduler`,
/// `DPMSolverMultistepScheduler` with solver order 2 and dpmsolver++).
///
/// Use: scale the initial noise by `initialNoiseScale`; for each step index, feed the model
/// `latents · modelInputScale(step:)` at `timesteps[step]`, then call `step`.
public struct DiffusionSampler: Sendable {
    public let kind: SamplerKind
    public let spacing: SigmaSpacing
    public let schedule: NoiseSchedule
    /// The schedule's timestep spacing, or the sampler's default where the schedule names none.
    public let timestepSpacing: NoiseSchedule.TimestepSpacing
    /// The model timestep of each step (fractional for Karras spacing with Euler).
    public let timesteps: [Double]
    /// σ of each step, then the final σ (0); empty for DDIM, which works in ᾱ.
    public let sigmas: [Double]
    /// What the initial unit Gaussian noise is multiplied by.
    public let initialNoiseScale: Double
    /// DPM++ 2M: the previous step's denoised prediction.
    private var previousDenoised: [Float] = []

    public init(kind: SamplerKind, spacing: SigmaSpacing, schedule: NoiseSchedule, steps: Int) throws {
        guard steps >= 1, steps <= schedule.trainTimesteps else {
            throw ImageError.invalidRequest("steps must be in 1...\(schedule.trainTimesteps), got \(steps)")
        }
        if spacing == .karras && (kind == .ddim || kind == .eulerAncestral) {
            throw ImageError.invalidRequest("sampler \(kind.rawValue) has no Karras spacing; use euler or dpm++2m")
        }
        self.kind = kind
        self.spacing = spacing
        self.schedule = schedule
        let timestepSpacing = schedule.timestepSpacing ?? kind.defaultTimestepSpacing
        self.timestepSpacing = timestepSpacing
        let trainSigmas = schedule.trainSigmas
        let logSigmas = schedule.trainLogSigmas
        switch kind {
        case .ddim:
            timesteps = schedule.spacedTimesteps(steps: steps, spacing: timestepSpacing).map { $0.rounded(.toNearestOrEven) }
            sigmas = []
            initialNoiseScale = 1
        case .euler, .eulerAncestral:
            var times = schedule.spacedTimesteps(steps: steps, spacing: timestepSpacing)
            var levels = times.map { NoiseSchedule.interpolate(trainSigmas, at: $0) }
            if spacing == .karras {
                levels = NoiseSchedule.karras(from: levels, steps: steps)
                times = levels.map { schedule.timestep(forSigma: $0, logSigmas: logSigmas) }
            }
            timesteps = times
            sigmas = levels + [0]
            let maximum = levels.max() ?? 0
            initialNoiseScale = timestepSpacing == .leading ? (maximum * maximum + 1).squareRoot() : maximum
        case .dpmSolverPlusPlus2M:
            let total = schedule.trainTimesteps
            var times: [Double]
            switch timestepSpacing {
            case .linspace:
                times = (0...steps).reversed().dropLast().map { (Double(total - 1) * Double($0) / Double(steps)).rounded(.toNearestOrEven) }
            case .leading:
                let ratio = total / (steps + 1)
                times = (0...steps).reversed().dropLast().map { Double($0 * ratio + schedule.stepsOffset) }
            case .trailing:
                let ratio = Double(total) / Double(steps)
                times = stride(from: Double(total), to: 0, by: -ratio).map { $0.rounded(.toNearestOrEven) - 1 }
            }
            var levels: [Double]
            if spacing == .karras {
                levels = NoiseSchedule.karras(from: trainSigmas.reversed(), steps: steps)
                times = levels.map { schedule.timestep(forSigma: $0, logSigmas: logSigmas) }
                // diffusers rounds, except for squaredcos_cap_v2, whose int64 cast then truncates.
                times = times.map { $0.rounded(schedule.betaSchedule == .squaredCosine ? .towardZero : .toNearestOrEven) }
            } else {
                levels = times.map { NoiseSchedule.interpolate(trainSigmas, at: $0) }
            }
            timesteps = times
            sigmas = levels + [0]
            initialNoiseScale = 1
        }
    }

    public var stepCount: Int { timesteps.count }

    /// What the model's input is multiplied by at `step`: 1/√(σ²+1) for the Euler samplers
    /// (which keep latents at scale σ), 1 for DDIM and DPM++ (which keep them at unit variance).
    public func modelInputScale(step: Int) -> Float {
        switch kind {
        case .euler, .eulerAncestral: return Float(1 / (sigmas[step] * sigmas[step] + 1).squareRoot())
        case .ddim, .dpmSolverPlusPlus2M: return 1
        }
    }

    /// Whether `step` draws fresh noise (Euler ancestral does at every step with σ_next > 0).
    public var needsNoise: Bool { kind == .eulerAncestral }

    /// Advances `latents` from step `step` to the next, given the model output (ε or v) at that
    /// step; `noise` (unit Gaussian, latents' size) is used by Euler ancestral only.
    public mutating func step(_ step: Int, modelOutput: [Float], latents: inout [Float], noise: [Float]? = nil) throws {
        guard step >= 0, step < stepCount, modelOutput.count == latents.count else {
            throw ImageError.invalidRequest("sampler step \(step) out of range or model output of the wrong size")
        }
        let isV = schedule.predictionType == .vPrediction
        switch kind {
        case .ddim:
            let t = Int(timesteps[step])
            let previous = t - schedule.trainTimesteps / stepCount
            let alpha = schedule.alphasCumprod[t]
            let alphaPrevious =
                previous >= 0
                ? schedule.alphasCumprod[previous]
                : (schedule.setAlphaToOne ? 1 : schedule.alphasCumprod[0])
            let a = Float(alpha.squareRoot()), b = Float((1 - alpha).squareRoot())
            let c = Float(alphaPrevious.squareRoot()), d = Float((1 - alphaPrevious).squareRoot())
            for index in latents.indices {
                let x = latents[index], output = modelOutput[index]
                let denoised = isV ? a * x - b * output : (x - b * output) / a
                let epsilon = isV ? a * output + b * x : output
                latents[index] = c * denoised + d * epsilon
            }
        case .euler, .eulerAncestral:
            let sigma = sigmas[step], next = sigmas[step + 1]
            var down = next, up = 0.0
            if kind == .eulerAncestral {
                up = (next * next * (sigma * sigma - next * next) / (sigma * sigma)).squareRoot()
                down = (next * next - up * up).squareRoot()
                guard let noise, noise.count == latents.count else {
                    throw ImageError.invalidRequest("euler_a needs noise of the latents' size at every step")
                }
            }
            let s = Float(sigma), dt = Float(down - sigma), u = Float(up)
            let vScale = Float(-sigma / (sigma * sigma + 1).squareRoot()), vShift = Float(1 / (sigma * sigma + 1))
            for index in latents.indices {
                let x = latents[index], output = modelOutput[index]
                let denoised = isV ? output * vScale + x * vShift : x - s * output
                let derivative = (x - denoised) / s
                var updated = x + derivative * dt
                if let noise, kind == .eulerAncestral { updated += noise[index] * u }
                latents[index] = updated
            }
        case .dpmSolverPlusPlus2M:
            try dpmStep(step, modelOutput: modelOutput, latents: &latents, isV: isV)
        }
    }

    private mutating func dpmStep(_ step: Int, modelOutput: [Float], latents: inout [Float], isV: Bool) throws {
        // σ ↦ (α_t, σ_t) of the variance-preserving process, and λ = log α − log σ.
        func alphaSigma(_ sigma: Double) -> (Double, Double) {
            let alpha = 1 / (sigma * sigma + 1).squareRoot()
            return (alpha, sigma * alpha)
        }
        let (alphaS, sigmaS) = alphaSigma(sigmas[step])
        let (alphaT, sigmaT) = alphaSigma(sigmas[step + 1])
        let a = Float(alphaS), b = Float(sigmaS)
        var denoised = [Float](repeating: 0, count: latents.count)
        for index in latents.indices {
            let x = latents[index], output = modelOutput[index]
            denoised[index] = isV ? a * x - b * output : (x - b * output) / a
        }
        let lambdaT = log(alphaT) - log(sigmaT), lambdaS = log(alphaS) - log(sigmaS)
        let h = lambdaT - lambdaS
        let ratio = Float(sigmaT / sigmaS), factor = Float(alphaT * (exp(-h) - 1))
        let isLast = step == stepCount - 1
        if step == 0 || isLast || previousDenoised.count != latents.count {
            // First order (the first step, and the last: its σ is 0).
            for index in latents.indices { latents[index] = ratio * latents[index] - factor * denoised[index] }
        } else {
            let (alphaP, sigmaP) = alphaSigma(sigmas[step - 1])
            let lambdaP = log(alphaP) - log(sigmaP)
            let r0 = Float((lambdaS - lambdaP) / h)
            for index in latents.indices {
                let d0 = denoised[index], d1 = (d0 - previousDenoised[index]) / r0
                latents[index] = ratio * latents[index] - factor * d0 - 0.5 * factor * d1
            }
        }
        previousDenoised = denoised
    }
}
