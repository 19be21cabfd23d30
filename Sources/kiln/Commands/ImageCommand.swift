import ArgumentParser
import Foundation
import KilnFormats
import KilnImage
import KilnLayers

#if canImport(Glibc)
    import Glibc
#endif

/// `kiln image`: one text-to-image generation from a diffusers folder, written as PNG.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Generate an image from a prompt with a diffusers pipeline (Stable Diffusion 1.x or PixArt-style; default: kiln-shapes-dit).")

    @Option(
        name: .shortAndLong,
        help: "The pipeline's diffusers folder (model_index.json, unet/ or transformer/, …); default: Kiln's own kiln-shapes-dit.")
    var model: String?

    @Option(name: .shortAndLong, help: "What the image should show.")
    var prompt: String

    @Option(name: .shortAndLong, help: "Where to write the PNG.")
    var output: String = "out.png"

    @Option(name: .long, help: "What the image should not show (classifier-free guidance's negative half).")
    var negativePrompt: String = ""

    @Option(name: .long, help: "Denoising steps.")
    var steps: Int = 20

    @Option(
        name: .long,
        help: "Classifier-free guidance scale (≤ 1 turns guidance off; default: the pipeline's, 7.5 for Stable Diffusion, 4.5 for PixArt).")
    var guidanceScale: Double?

    @Option(name: .long, help: "Sampler: ddim, euler, euler_a or dpm++2m (default: the model folder's scheduler, else euler).")
    var sampler: String?

    @Option(name: .long, help: "Sigma spacing: default or karras (euler and dpm++2m).")
    var scheduler: String = "default"

    @Option(name: .long, help: "Seed of the starting noise (Kiln's documented generator).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Image size WxH in pixels (default: the model's native size).")
    var size: String?

    @Option(name: .long, help: "Text encoder layers to skip from the end.")
    var clipSkip: Int = 0

    @Option(name: .long, help: "A safetensors file holding one tensor of unit-variance starting latents [1,C,h,w] or [C,h,w].")
    var initLatents: String?

    func run() throws {
        let samplerKind = try sampler.map { name in
            guard let kind = SamplerKind(rawValue: name) else {
                throw ValidationError("unknown sampler '\(name)'; choose one of \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
        guard let spacing = SigmaSpacing(rawValue: scheduler) else {
            throw ValidationError("unknown scheduler '\(scheduler)'; choose default or karras")
        }
        var width: Int? = nil, height: Int? = nil
        if let size {
            let parts = size.lowercased().split(separator: "x")
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0 else {
                throw ValidationError("size must look like 512x512, got '\(size)'")
            }
            (width, height) = (w, h)
        }
        let started = Date()
        guard let directory = model ?? DefaultImageModel.path() else {
            throw ValidationError(
                "no -m given and the default image model \(DefaultImageModel.name) was not found (looked in \(DefaultImageModel.candidates().prefix(4).joined(separator: ", ")))"
            )
        }
        let pipeline = try ImagePipeline.load(directory: directory, kernels: ConfigCatalogue.imageKernelsFromEnvironment())
        let loaded = Date()
        var request = ImageRequest(
            prompt: prompt, negativePrompt: negativePrompt, width: width, height: height, steps: steps,
            guidanceScale: guidanceScale ?? pipeline.defaultGuidanceScale,
            sampler: samplerKind ?? pipeline.defaultSampler, spacing: spacing, seed: seed, clipSkip: clipSkip)
        if let initLatents { request.initialLatents = try Self.readLatents(initLatents) }
        let bar = ProgressBar(total: steps, enabled: isatty(STDERR_FILENO) != 0)
        let image = try pipeline.generate(request) { step, _ in
            bar.update(step)
            return true
        }
        bar.finish()
        let png = try image.pngData()
        guard FileManager.default.createFile(atPath: output, contents: Data(png)) else {
            throw ValidationError("cannot write \(output)")
        }
        let seconds = Date().timeIntervalSince(loaded)
        FileHandle.standardError.write(
            Data(
                String(
                    format: "wrote %@ (%d×%d, %d steps, %@ %@, guidance %g) in %.2f s (load %.2f s)\n",
                    output, image.width, image.height, steps, request.sampler.rawValue, scheduler,
                    request.guidanceScale, seconds,
                    loaded.timeIntervalSince(started)
                ).utf8))
    }

    /// The single tensor of a safetensors file, as float32.
    static func readLatents(_ path: String) throws -> [Float] {
        let store = try WeightStore(path: path)
        let tensors = store.safetensors?.tensors ?? []
        guard tensors.count == 1, let info = tensors.first else {
            throw ValidationError("\(path) must hold exactly one tensor, holds \(tensors.count)")
        }
        guard info.shape.count == 3 || (info.shape.count == 4 && info.shape[0] == 1) else {
            throw ValidationError("\(path): latents must be [1, C, h, w] or [C, h, w], are \(info.shape)")
        }
        let weight = try store.weight(info.name)
        return weight.floats()
    }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar {
    private let total: Int
    private let enabled: Bool
    private let started = Date()

    init(total: Int, enabled: Bool) {
        self.total = max(total, 1)
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let width = 30
        let filled = width * done / total
        let elapsed = Date().timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let line = String(
            format: "\r[%@%@] %d/%d steps  %.2f steps/s", String(repeating: "#", count: filled),
            String(repeating: ".", count: width - filled), done, total, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
