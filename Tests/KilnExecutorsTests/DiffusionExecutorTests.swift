import Foundation
import KilnExecutors
import KilnImage
import KilnServe
import Testing

/// The real diffusion engine behind the scheduler: the tiny fixture pipeline, jobs batched by the
/// scheduler give the same images as the pipeline run alone.
@Suite struct DiffusionExecutorTests {
    static let pipelineDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/diffusion/tiny-sd").path

    @Test func batchedJobsGiveTheImagesOfTheirRequestsAlone() throws {
        let pipeline = try ImagePipeline(directory: Self.pipelineDirectory)
        let executor = DiffusionExecutor(pipelines: ["tiny": pipeline])
        let scheduler = try Self.scheduler(executor)
        let requests = [
            ImageRequest(prompt: "a red cube", width: 32, height: 32, steps: 3, sampler: .eulerAncestral, seed: 1),
            ImageRequest(
                prompt: "a blue cube", negativePrompt: "green", width: 32, height: 32, steps: 3, guidanceScale: 1,
                sampler: .ddim, seed: 2),
            ImageRequest(prompt: "a wide one", width: 48, height: 32, steps: 3, sampler: .dpmSolverPlusPlus2M, seed: 3),
        ]
        let logs = try requests.map { request -> EventLog in
            let log = EventLog()
            _ = try scheduler.submitImage(Self.job(request, previewInterval: 1), onEvent: log.handler)
            return log
        }
        while scheduler.runIteration() {}
        let metrics = scheduler.metrics()
        // Two 32×32 jobs share each of their 3 calls; the 48×32 job has its own 3.
        #expect(metrics.denoiserCalls == 6 && metrics.denoisingSteps == 9)
        for (request, log) in zip(requests, logs) {
            let alone = try pipeline.generate(request)
            #expect(log.image?.pixels == alone.pixels, "\(request.prompt) differs when scheduled")
            #expect(log.previewSteps == [1, 2])
        }
        #expect(executor.activeGenerationCount == 0)

        let unknown = EventLog()
        _ = try scheduler.submitImage(
            ImageJobRequest(model: "other", width: 32, height: 32, steps: 3, parameters: requests[0]),
            onEvent: unknown.handler)
        while scheduler.runIteration() {}
        #expect(unknown.error == .invalidRequest("no image model named 'other'"))
    }

    /// The pipeline's own request checks reach the client as a 400, not as a server failure.
    @Test func aRequestThePipelineRefusesIsInvalid() throws {
        let pipeline = try ImagePipeline(directory: Self.pipelineDirectory)
        let executor = DiffusionExecutor(pipelines: ["tiny": pipeline])
        let scheduler = try Self.scheduler(executor)
        // 33 is not a multiple of the pipeline's latent scale.
        let log = EventLog()
        let request = ImageRequest(prompt: "odd", width: 33, height: 33, steps: 2, seed: 1)
        _ = try scheduler.submitImage(Self.job(request), onEvent: log.handler)
        while scheduler.runIteration() {}
        guard case .invalidRequest? = log.error else {
            Issue.record("expected an invalid request, got \(String(describing: log.error))")
            return
        }
        #expect(executor.activeGenerationCount == 0)
    }

    /// A GAN beside a diffusion pipeline in one executor: the GAN's one-step jobs of several
    /// requests share one generator call and give the images the pipeline draws alone.
    @Test func ganJobsAreBatchedOneStepJobs() throws {
        let ganDirectory = URL(fileURLWithPath: Self.pipelineDirectory).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("gan/tiny-gan").path
        let gan = try GANPipeline(directory: ganDirectory)
        let executor = DiffusionExecutor(pipelines: ["tiny": try ImagePipeline(directory: Self.pipelineDirectory), "gan": gan])
        let scheduler = try Self.scheduler(executor)
        let requests = ["a red circle", "a blue square", "a green star"].enumerated().map {
            ImageRequest(prompt: $0.element, width: 32, height: 32, steps: 1, seed: UInt64($0.offset))
        }
        let logs = try requests.map { request -> EventLog in
            let log = EventLog()
            let job = ImageJobRequest(model: "gan", width: 32, height: 32, steps: 1, parameters: request)
            _ = try scheduler.submitImage(job, onEvent: log.handler)
            return log
        }
        let diffusion = EventLog()
        _ = try scheduler.submitImage(
            Self.job(ImageRequest(prompt: "a cube", width: 32, height: 32, steps: 2, seed: 9)), onEvent: diffusion.handler)
        while scheduler.runIteration() {}
        let metrics = scheduler.metrics()
        // One generator call for the three GAN jobs, two denoiser calls for the diffusion job.
        #expect(metrics.denoiserCalls == 3 && metrics.denoisingSteps == 5)
        for (request, log) in zip(requests, logs) {
            let alone = try gan.generate(prompts: [request.prompt], seeds: [request.seed])[0]
            #expect(log.image?.pixels == alone.pixels, "\(request.prompt) differs when batched")
        }
        #expect(diffusion.image != nil)
        #expect(executor.activeGenerationCount == 0)
    }

    /// The hybrid's jobs count every DDIM step of every band; two of them share each call, a
    /// diffusion job's steps interleave with theirs, and each image equals the pipeline's alone.
    @Test func hybridJobsStepBandByBand() throws {
        let hybridDirectory = URL(fileURLWithPath: Self.pipelineDirectory).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("madformer/tiny-madformer").path
        let hybrid = try MADFormerPipeline(directory: hybridDirectory)
        let executor = DiffusionExecutor(pipelines: ["tiny": try ImagePipeline(directory: Self.pipelineDirectory), "hybrid": hybrid])
        let scheduler = try Self.scheduler(executor)
        let requests = ["a red circle", "a blue square"].enumerated().map {
            ImageRequest(prompt: $0.element, width: 32, height: 32, steps: 2, guidanceScale: 3, sampler: .ddim, seed: UInt64($0.offset))
        }
        let logs = try requests.map { request -> EventLog in
            let log = EventLog()
            let job = ImageJobRequest(model: "hybrid", width: 32, height: 32, steps: 8, parameters: request, previewInterval: 2)
            _ = try scheduler.submitImage(job, onEvent: log.handler)
            return log
        }
        let diffusion = EventLog()
        _ = try scheduler.submitImage(
            Self.job(ImageRequest(prompt: "a cube", width: 32, height: 32, steps: 2, seed: 9)), onEvent: diffusion.handler)
        // A job that counts the steps per band only is refused, not run short.
        let miscounted = EventLog()
        _ = try scheduler.submitImage(
            ImageJobRequest(model: "hybrid", width: 32, height: 32, steps: 2, parameters: requests[0]), onEvent: miscounted.handler)
        while scheduler.runIteration() {}
        let metrics = scheduler.metrics()
        // Eight calls for the two hybrid jobs together, two for the diffusion job.
        #expect(metrics.denoiserCalls == 10 && metrics.denoisingSteps == 18)
        for (request, log) in zip(requests, logs) {
            let alone = try hybrid.generate(prompts: [request.prompt], seeds: [request.seed], steps: 2, guidanceScale: 3)[0]
            #expect(log.image?.pixels == alone.pixels, "\(request.prompt) differs when scheduled")
            #expect(log.previewSteps == [2, 4, 6])
        }
        #expect(diffusion.image != nil)
        #expect(miscounted.error != nil && miscounted.image == nil)
        #expect(executor.activeGenerationCount == 0)
    }

    /// A scheduler over `executor` on a manual clock, its image steps not overlapping text.
    static func scheduler(_ executor: DiffusionExecutor) throws -> Scheduler {
        var settings = SchedulerSettings()
        settings.imageStepsOverlapText = false
        return try Scheduler(settings: settings, executor: NoTextExecutor(), imageExecutor: executor, clock: ManualClock())
    }

    static func job(_ request: ImageRequest, previewInterval: Int = 0) -> ImageJobRequest {
        ImageJobRequest(
            model: "tiny", width: request.width ?? 0, height: request.height ?? 0, steps: request.steps,
            parameters: request, previewInterval: previewInterval)
    }
}

/// The scheduler needs a text executor; these tests submit no text.
private final class NoTextExecutor: BatchExecutor {
    func execute(_ batch: ExecutorBatch) throws -> [ExecutorOutput] { [] }
}

/// Records an image job's events.
private final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var previews: [Int] = []
    private var terminal: JobEvent?

    var handler: JobEventHandler {
        { [self] event in
            lock.withLock {
                switch event {
                case .imageProgress(let progress): if progress.preview != nil { previews.append(progress.step) }
                default: if event.isTerminal { terminal = event }
                }
            }
        }
    }

    var previewSteps: [Int] { lock.withLock { previews } }

    var image: RenderedImage? {
        lock.withLock {
            guard case .imageFinished(let image)? = terminal else { return nil }
            return image
        }
    }

    var error: ServeError? {
        lock.withLock {
            guard case .error(let error)? = terminal else { return nil }
            return error
        }
    }
}
