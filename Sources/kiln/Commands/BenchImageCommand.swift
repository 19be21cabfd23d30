import ArgumentParser
import Foundation
import KilnImage
import KilnLayers

/// `kiln bench-image`: times the denoiser of a diffusers pipeline — one batched UNet call with
/// both halves of classifier-free guidance, as a generation step makes it — or, for a GAN folder
/// (kiln-shapes-gan) or a hybrid one (kiln-shapes-madformer), whole images: `batch` captions
/// encoded, drawn together (one generator call; or every band's DDIM steps at the hybrid's default
/// steps and guidance, all images stepped together) and mapped to pixels. Prints one JSON object
/// per line (for `Scripts/bench-diffusion.py`).
struct BenchImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-image",
        abstract: "Time batched UNet steps of a diffusers pipeline (JSON lines on standard output).")

    @Option(name: .shortAndLong, help: "The pipeline's diffusers folder.")
    var model: String

    @Option(name: .long, help: "Image size WxH in pixels (latents are 1/8 of it for SD).")
    var size: String = "512x512"

    @Option(name: .long, help: "Samples per UNet call (2: a guided generation's two halves).")
    var batch: Int = 2

    @Option(name: .long, help: "Untimed calls first.")
    var warmup: Int = 1

    @Option(name: .long, help: "Timed calls.")
    var repeats: Int = 3

    func run() throws {
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), width > 0, height > 0 else {
            throw ValidationError("size must look like 512x512, got '\(size)'")
        }
        guard (1...64).contains(batch), warmup >= 0, (1...1000).contains(repeats) else {
            throw ValidationError("batch must be in 1...64, warmup ≥ 0, repeats in 1...1000")
        }
        let className = try ComponentConfig(path: model + "/model_index.json").string("_class_name", default: "")
        if className == "KilnShapesGAN" || className == "KilnShapesMADFormer" {
            return try runWholeImages(hybrid: className == "KilnShapesMADFormer")
        }
        let started = Date()
        let pipeline = try ImagePipeline.load(directory: model, kernels: ConfigCatalogue.imageKernelsFromEnvironment())
        let loadSeconds = Date().timeIntervalSince(started)
        guard width % pipeline.sizeMultiple == 0, height % pipeline.sizeMultiple == 0 else {
            throw ValidationError("size must be a multiple of \(pipeline.sizeMultiple)")
        }
        let latentHeight = height / pipeline.vaeScale, latentWidth = width / pipeline.vaeScale
        let prompt = try pipeline.encode(prompt: "a photograph of a red fox in the snow")
        let negative = try pipeline.encode(prompt: "")
        var noise = SeededNoise(seed: 7)
        let channels = pipeline.latentChannels
        let samples = (0..<batch).map { _ in
            FeatureMap(
                values: noise.gaussians(count: channels * latentHeight * latentWidth), channels: channels,
                height: latentHeight, width: latentWidth)
        }
        let contexts = (0..<batch).map { $0 % 2 == 0 ? negative : prompt }
        let timesteps = [Double](repeating: 501, count: batch)
        var seconds: [Double] = []
        for index in 0..<(warmup + repeats) {
            let begin = Date()
            _ = try pipeline.denoiser.predict(
                batch: samples, timesteps: timesteps, contexts: contexts,
                contextTokens: pipeline.tokenizer.maxLength)
            if index >= warmup { seconds.append(Date().timeIntervalSince(begin)) }
        }
        let line = String(
            format: "{\"model\": \"%@\", \"width\": %d, \"height\": %d, \"batch\": %d, \"load_seconds\": %.3f, \"unet_step_seconds\": [%@]}",
            model, width, height, batch, loadSeconds, seconds.map { String(format: "%.4f", $0) }.joined(separator: ", "))
        print(line)
    }

    /// Whole GAN or hybrid images, `batch` per call: per call the seconds, and per image the milliseconds.
    func runWholeImages(hybrid: Bool) throws {
        let started = Date()
        let kernels = try ConfigCatalogue.imageKernelsFromEnvironment()
        let imageSize: Int
        let generate: ([String], [UInt64]) throws -> [GeneratedImage]
        if hybrid {
            let pipeline = try MADFormerPipeline(directory: model, kernels: kernels)
            (imageSize, generate) = (pipeline.imageSize, { try pipeline.generate(prompts: $0, seeds: $1) })
        } else {
            let pipeline = try GANPipeline(directory: model, kernels: kernels)
            (imageSize, generate) = (pipeline.imageSize, { try pipeline.generate(prompts: $0, seeds: $1) })
        }
        let loadSeconds = Date().timeIntervalSince(started)
        let captions = [
            "a small red circle at the top left on a blue background", "a large yellow star in the center on a black background",
            "a small white square at the bottom right on a green background", "a large purple triangle on the left on a gray background",
        ]
        var seconds: [Double] = []
        for index in 0..<(warmup + repeats) {
            let prompts = (0..<batch).map { captions[($0 + index) % captions.count] }
            let seeds = (0..<batch).map { UInt64(index * batch + $0) }
            let begin = Date()
            _ = try generate(prompts, seeds)
            if index >= warmup { seconds.append(Date().timeIntervalSince(begin)) }
        }
        let perImage = seconds.sorted()[seconds.count / 2] * 1000 / Double(batch)
        print(
            String(
                format:
                    "{\"model\": \"%@\", \"width\": %d, \"height\": %d, \"batch\": %d, \"load_seconds\": %.3f, \"median_ms_per_image\": %.3f, \"call_seconds\": [%@]}",
                model, imageSize, imageSize, batch, loadSeconds, perImage,
                seconds.map { String(format: "%.5f", $0) }.joined(separator: ", ")))
    }
}
