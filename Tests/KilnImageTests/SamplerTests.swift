import Foundation
import KilnImage
import Testing

/// NoiseSchedule and the samplers against diffusers' schedulers (schedules.json, samplers.safetensors).
@Suite struct SamplerTests {
    static let cases = DiffusionFixtures.json("schedules.json") as! [[String: Any]]

    static func kind(_ name: String) -> SamplerKind { SamplerKind(rawValue: name)! }

    @Test func timestepsAndSigmasMatchDiffusers() throws {
        #expect(Self.cases.count > 100)
        for entry in Self.cases {
            let schedule = try NoiseSchedule(
                betaSchedule: NoiseSchedule.BetaSchedule(rawValue: entry["beta_schedule"] as! String)!,
                timestepSpacing: NoiseSchedule.TimestepSpacing(rawValue: entry["timestep_spacing"] as! String)!,
                stepsOffset: 1)
            let label =
                "\(entry["sampler"]!) \(entry["beta_schedule"]!) \(entry["timestep_spacing"]!) karras=\(entry["karras"]!) steps=\(entry["steps"]!)"
            let checks = entry["alphas_cumprod_checks"] as! [Double]
            for (position, t) in [0, 1, 499, 998, 999].enumerated() {
                #expect(abs(schedule.alphasCumprod[t] - checks[position]) < 2e-6 * max(1, checks[position] * 10), "\(label) ᾱ[\(t)]")
            }
            let sampler = try DiffusionSampler(
                kind: Self.kind(entry["sampler"] as! String),
                spacing: (entry["karras"] as! Bool) ? .karras : .default,
                schedule: schedule, steps: entry["steps"] as! Int)
            let timesteps = entry["timesteps"] as! [Double]
            #expect(sampler.timesteps.count == timesteps.count, "\(label) step count")
            for (ours, theirs) in zip(sampler.timesteps, timesteps) {
                #expect(abs(ours - theirs) < 1e-3 * max(1, abs(theirs) / 100), "\(label) timestep \(ours) vs \(theirs)")
            }
            let sigmas = entry["sigmas"] as! [Double]
            if sampler.kind != .ddim {
                #expect(sampler.sigmas.count == sigmas.count, "\(label) sigma count")
                for (ours, theirs) in zip(sampler.sigmas, sigmas) {
                    #expect(abs(ours - theirs) <= 2e-6 * max(1, theirs), "\(label) sigma \(ours) vs \(theirs)")
                }
            }
            let initial = entry["init_noise_sigma"] as! Double
            #expect(abs(sampler.initialNoiseScale - initial) <= 2e-6 * max(1, initial), "\(label) init noise sigma")
        }
    }

    /// Each sampler over the synthetic model output tanh(0.7·x + bias)·1.3, for ε and v prediction.
    @Test func trajectoriesMatchDiffusers() throws {
        let meta = (DiffusionFixtures.meta["synthetic_samplers"] as! [[String: Any]])
        let initial = DiffusionFixtures.tensor("synthetic_initial", in: DiffusionFixtures.samplers).values
        let bias = DiffusionFixtures.tensor("synthetic_bias", in: DiffusionFixtures.samplers).values
        #expect(meta.count == 12)
        for entry in meta {
            let key = entry["key"] as! String
            let schedule = try NoiseSchedule(
                predictionType: NoiseSchedule.PredictionType(rawValue: entry["prediction_type"] as! String)!,
                timestepSpacing: .leading, stepsOffset: 1, setAlphaToOne: false)
            var sampler = try DiffusionSampler(
                kind: Self.kind(entry["sampler"] as! String),
                spacing: SigmaSpacing(rawValue: entry["scheduler"] as! String)!,
                schedule: schedule, steps: 10)
            let expected = DiffusionFixtures.tensor("\(key)/trajectory", in: DiffusionFixtures.samplers).values
            let noise = sampler.needsNoise ? DiffusionFixtures.tensor("\(key)/noise", in: DiffusionFixtures.samplers).values : []
            let size = initial.count
            var x = initial.map { $0 * Float(sampler.initialNoiseScale) }
            var worst: Float = 0
            for step in 0..<sampler.stepCount {
                let scale = sampler.modelInputScale(step: step)
                let output = zip(x, bias).map { tanhf(0.7 * $0 * scale + $1) * 1.3 }
                let stepNoise = sampler.needsNoise ? Array(noise[(step * size)..<((step + 1) * size)]) : nil
                try sampler.step(step, modelOutput: output, latents: &x, noise: stepNoise)
                let reference = Array(expected[(step * size)..<((step + 1) * size)])
                let scaleOfValues = max(1, DiffusionFixtures.maxAbs(reference))
                worst = max(worst, DiffusionFixtures.maxAbsDifference(x, reference) / scaleOfValues)
            }
            #expect(worst < 2e-5, "\(key): worst relative difference \(worst)")
        }
    }

    @Test func invalidCombinationsAreRefused() throws {
        let schedule = try NoiseSchedule()
        #expect(throws: ImageError.self) { try DiffusionSampler(kind: .ddim, spacing: .karras, schedule: schedule, steps: 10) }
        #expect(throws: ImageError.self) { try DiffusionSampler(kind: .eulerAncestral, spacing: .karras, schedule: schedule, steps: 10) }
        #expect(throws: ImageError.self) { try DiffusionSampler(kind: .euler, spacing: .default, schedule: schedule, steps: 0) }
        #expect(throws: ImageError.self) { try NoiseSchedule(betaStart: 0.5, betaEnd: 0.1) }
    }

    /// The documented generator's first values, computed independently from its definition in Python.
    @Test func seededNoiseFollowsItsDefinition() {
        var zero = SeededNoise(seed: 0)
        #expect(zero.nextBits() == 0x99ec_5f36_cb75_f2b4)
        #expect(zero.nextBits() == 0xbf6e_1f78_4956_452a)
        let expected: [UInt64: [Float]] = [
            0: [-0.01410679705440998, -1.0085865259170532, -1.8458950519561768, 1.0669282674789429, 0.7881791591644287, -0.0012458141427487135],
            42: [-1.6132237911224365, 1.5344873666763306, 0.7816920280456543, -0.4001934826374054, 0.01587129384279251, -0.12730993330478668],
        ]
        for (seed, values) in expected {
            var noise = SeededNoise(seed: seed)
            let ours = noise.gaussians(count: values.count)
            #expect(DiffusionFixtures.maxAbsDifference(ours, values) <= 1e-6, "seed \(seed): \(ours)")
        }
        var stream = SeededNoise(seed: 7)
        let many = stream.gaussians(count: 100_000).map(Double.init)
        let mean = many.reduce(0, +) / Double(many.count)
        let variance = many.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(many.count)
        #expect(abs(mean) < 0.02 && abs(variance - 1) < 0.02)
    }
}
