import Foundation

/// The forward noising process a diffusion model was trained with (diffusers' scheduler
/// config.json), and the discrete plans a sampler walks through it.
///
/// ᾱ follows diffusers' float32 rounding; everything derived from it is computed in Double.
public struct NoiseSchedule: Sendable, Equatable {
    public enum BetaSchedule: String, Sendable {
        case linear
        case scaledLinear = "scaled_linear"
        case squaredCosine = "squaredcos_cap_v2"
    }
    public enum PredictionType: String, Sendable {
        case epsilon
        case vPrediction = "v_prediction"
    }
    public enum TimestepSpacing: String, Sendable { case leading, linspace, trailing }

    public var trainTimesteps: Int
    public var betaStart: Double
    public var betaEnd: Double
    public var betaSchedule: BetaSchedule
    public var predictionType: PredictionType
    /// How a sampler spaces its timesteps; nil when the scheduler config names none, in which
    /// case each sampler takes the default of its diffusers class (`SamplerKind.defaultTimestepSpacing`),
    /// as diffusers does when it builds one scheduler from another's config.
    public var timestepSpacing: TimestepSpacing?
    public var stepsOffset: Int
    /// DDIM: whether the step past t = 0 uses ᾱ = 1 (else ᾱ₀).
    public var setAlphaToOne: Bool
    /// ᾱ_t for t in 0..<trainTimesteps.
    public let alphasCumprod: [Double]

    public init(
        trainTimesteps: Int = 1000, betaStart: Double = 0.00085, betaEnd: Double = 0.012,
        betaSchedule: BetaSchedule = .scaledLinear, predictionType: PredictionType = .epsilon,
        timestepSpacing: TimestepSpacing? = .leading, stepsOffset: Int = 1, setAlphaToOne: Bool = false
    ) throws {
        guard (2...100_000).contains(trainTimesteps) else {
            throw ImageError.invalidConfig("num_train_timesteps \(trainTimesteps) is outside 2...100000")
        }
        guard betaStart > 0, betaEnd > betaStart, betaEnd < 1 else {
            throw ImageError.invalidConfig("beta_start \(betaStart) and beta_end \(betaEnd) must satisfy 0 < start < end < 1")
        }
        self.trainTimesteps = trainTimesteps
        self.betaStart = betaStart
        self.betaEnd = betaEnd
        self.betaSchedule = betaSchedule
        self.predictionType = predictionType
        self.timestepSpacing = timestepSpacing
        self.stepsOffset = stepsOffset
        self.setAlphaToOne = setAlphaToOne
        var betas = [Double](repeating: 0, count: trainTimesteps)
        let last = Double(trainTimesteps - 1)
        for t in 0..<trainTimesteps {
            switch betaSchedule {
            case .linear:
                betas[t] = betaStart + (betaEnd - betaStart) * Double(t) / last
            case .scaledLinear:
                let root = betaStart.squareRoot() + (betaEnd.squareRoot() - betaStart.squareRoot()) * Double(t) / last
                betas[t] = root * root
            case .squaredCosine:
                func alphaBar(_ x: Double) -> Double {
                    let c = cos((x + 0.008) / 1.008 * Double.pi / 2)
                    return c * c
                }
                let t1 = Double(t) / Double(trainTimesteps), t2 = Double(t + 1) / Double(trainTimesteps)
                betas[t] = min(1 - alphaBar(t2) / alphaBar(t1), 0.999)
            }
        }
        // As diffusers does: betas and 1 − β in float32, the running product accumulated in Double
        // (PyTorch's CPU cumprod) and stored in float32. The float32 steps matter where ᾱ is tiny
        // (squaredcos_cap_v2 near t = T), where σ = √((1 − ᾱ)/ᾱ) is very sensitive to ᾱ.
        var product = 1.0
        alphasCumprod = betas.map { beta in
            product *= Double(Float(1) - Float(beta))
            return Double(Float(product))
        }
    }

    /// σ_t = √((1 − ᾱ_t) / ᾱ_t) for every training timestep (ascending in t), in float32 as
    /// diffusers computes it from its float32 ᾱ.
    public var trainSigmas: [Double] {
        alphasCumprod.map { value in
            let alpha = Float(value)
            return Double(((1 - alpha) / alpha).squareRoot())
        }
    }

    /// log σ_t in float32 (numpy's log of a float32 array), for mapping σ back to t.
    var trainLogSigmas: [Double] { trainSigmas.map { Double(logf(Float($0))) } }

    /// Evenly spaced inference timesteps, descending, the way diffusers' DDIM and Euler space them.
    func spacedTimesteps(steps: Int, spacing: TimestepSpacing) -> [Double] {
        let total = trainTimesteps
        switch spacing {
        case .linspace:
            return (0..<steps).reversed().map { index in
                steps == 1 ? 0 : Double(total - 1) * Double(index) / Double(steps - 1)
            }
        case .leading:
            let ratio = total / steps
            return (0..<steps).reversed().map { Double($0 * ratio + stepsOffset) }
        case .trailing:
            let ratio = Double(total) / Double(steps)
            return stride(from: Double(total), to: 0, by: -ratio).map { $0.rounded(.toNearestOrEven) - 1 }
        }
    }

    /// Karras et al. (2022) spacing between the end points of `sigmas` (descending): ρ = 7.
    static func karras(from sigmas: [Double], steps: Int) -> [Double] {
        let rho = 7.0
        let minInverse = pow(sigmas.last!, 1 / rho), maxInverse = pow(sigmas.first!, 1 / rho)
        return (0..<steps).map { index in
            let ramp = steps == 1 ? 0 : Double(index) / Double(steps - 1)
            return pow(maxInverse + ramp * (minInverse - maxInverse), rho)
        }
    }

    /// The fractional training timestep whose σ is `sigma`, by linear interpolation in log σ.
    func timestep(forSigma sigma: Double, logSigmas: [Double]) -> Double {
        let logSigma = log(max(sigma, 1e-10))
        // The last index whose log σ is ≤ log sigma, clipped so that a neighbour above exists.
        var low = 0
        for (index, value) in logSigmas.enumerated() where logSigma - value >= 0 { low = index }
        low = min(low, logSigmas.count - 2)
        let lowValue = logSigmas[low], highValue = logSigmas[low + 1]
        let weight = min(max((lowValue - logSigma) / (lowValue - highValue), 0), 1)
        return (1 - weight) * Double(low) + weight * Double(low + 1)
    }

    /// Linear interpolation of `values` (indexed 0, 1, …) at `position`, numpy's `interp`.
    static func interpolate(_ values: [Double], at position: Double) -> Double {
        if position <= 0 { return values[0] }
        if position >= Double(values.count - 1) { return values[values.count - 1] }
        let low = Int(position.rounded(.down))
        let fraction = position - Double(low)
        return values[low] + (values[low + 1] - values[low]) * fraction
    }
}
