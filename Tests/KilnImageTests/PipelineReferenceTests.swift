import Foundation
import KilnImage
import Testing

/// Whole generations with classifier-free guidance, each sampler, against diffusers'
/// StableDiffusionPipeline from the same initial latents.
@Suite struct PipelineReferenceTests {
    static let runs = (DiffusionFixtures.meta["runs"] as! [[String: Any]]).map { ($0["sampler"] as! String, $0["scheduler"] as! String) }

    @Test(arguments: ["ddim/default", "euler/default", "euler/karras", "euler_a/default", "dpm++2m/default", "dpm++2m/karras"])
    func generationMatchesDiffusers(key: String) throws {
        let meta = DiffusionFixtures.meta
        let parts = key.split(separator: "/").map(String.init)
        let pipeline = ModelReferenceTests.pipeline
        let initial = DiffusionFixtures.tensor("init_latents")
        let steps = meta["steps"] as! Int
        var ancestral: [[Float]]? = nil
        if parts[0] == "euler_a" {
            let noise = DiffusionFixtures.tensor("\(key)/ancestral_noise").values
            let size = initial.values.count
            ancestral = (0..<steps).map { Array(noise[($0 * size)..<(($0 + 1) * size)]) }
        }
        let request = ImageRequest(
            prompt: meta["prompt"] as! String, negativePrompt: meta["negative_prompt"] as! String,
            width: meta["width"] as? Int, height: meta["height"] as? Int, steps: steps,
            guidanceScale: meta["guidance_scale"] as! Double,
            sampler: SamplerKind(rawValue: parts[0])!, spacing: SigmaSpacing(rawValue: parts[1])!,
            initialLatents: initial.values, ancestralNoise: ancestral)
        let expectedSteps = DiffusionFixtures.tensor("\(key)/latents_steps").values
        let size = initial.values.count
        var latentErrors: [Float] = []
        let started = Date()
        let image = try pipeline.generate(request) { step, latents in
            let reference = Array(expectedSteps[((step - 1) * size)..<(step * size)])
            latentErrors.append(DiffusionFixtures.maxAbsDifference(latents, reference) / max(1, DiffusionFixtures.maxAbs(reference)))
            return true
        }
        let seconds = Date().timeIntervalSince(started)
        // diffusers returns [1, H, W, 3]; Kiln keeps [3, H, W].
        let expected = DiffusionFixtures.tensor("\(key)/image")
        let (height, width) = (expected.shape[1], expected.shape[2])
        var ours = [Float](repeating: 0, count: expected.values.count)
        for channel in 0..<3 { for pixel in 0..<(height * width) { ours[pixel * 3 + channel] = image.pixels[channel * height * width + pixel] } }
        let imageError = DiffusionFixtures.maxAbsDifference(ours, expected.values)
        print(
            "\(key): image max-abs \(imageError), worst relative latent error per step \(latentErrors.max() ?? -1), \(String(format: "%.2f", seconds)) s for \(steps) steps"
        )
        #expect(latentErrors.count == steps)
        #expect(latentErrors.allSatisfy { $0 < 1e-4 }, "\(latentErrors)")
        #expect(imageError < 1e-3)
    }

    @Test func cancellationStopsAtTheNextStep() throws {
        var calls = 0
        #expect(throws: ImageError.cancelled) {
            _ = try ModelReferenceTests.pipeline.generate(ImageRequest(prompt: "x", steps: 5)) { _, _ in
                calls += 1
                return false
            }
        }
        #expect(calls == 1)
    }

    @Test func badRequestsGetClearErrors() {
        let pipeline = ModelReferenceTests.pipeline
        for request in [
            ImageRequest(prompt: "x", width: 65, height: 64), ImageRequest(prompt: "x", width: 64, height: 64, steps: 0),
            ImageRequest(prompt: "x", width: 4096, height: 4096), ImageRequest(prompt: "x", guidanceScale: .nan),
            ImageRequest(prompt: "x", initialLatents: [1, 2, 3]), ImageRequest(prompt: "x", clipSkip: 99),
        ] {
            #expect(throws: ImageError.self) { _ = try pipeline.generate(request) }
        }
    }

    @Test func sameSeedSameImage() throws {
        let pipeline = ModelReferenceTests.pipeline
        let request = ImageRequest(prompt: "a blue square", steps: 3, sampler: .eulerAncestral, seed: 1234)
        let first = try pipeline.generate(request), second = try pipeline.generate(request)
        #expect(first.pixels == second.pixels)
        var other = request
        other.seed = 1235
        #expect(try pipeline.generate(other).pixels != first.pixels)
    }
}
