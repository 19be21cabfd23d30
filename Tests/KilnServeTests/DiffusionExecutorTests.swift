import Foundation
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
        var settings = SchedulerSettings()
        settings.imageStepsOverlapText = false
        let scheduler = try Scheduler(settings: settings, executor: FakeModelExecutor(blockSize: 16, blockCount: 1024),
                                      imageExecutor: executor, clock: ManualClock())
        let requests = [
            ImageRequest(prompt: "a red cube", width: 32, height: 32, steps: 3, sampler: .eulerAncestral, seed: 1),
            ImageRequest(prompt: "a blue cube", negativePrompt: "green", width: 32, height: 32, steps: 3, guidanceScale: 1,
                         sampler: .ddim, seed: 2),
            ImageRequest(prompt: "a wide one", width: 48, height: 32, steps: 3, sampler: .dpmSolverPlusPlus2M, seed: 3),
        ]
        let logs = try requests.map { request -> ImageEventLog in
            let log = ImageEventLog()
            _ = try scheduler.submitImage(ImageJobRequest(model: "tiny", image: request, previewInterval: 1), onEvent: log.handler)
            return log
        }
        var iterations = 0
        while scheduler.runIteration() { iterations += 1 }
        let metrics = scheduler.metrics()
        // Two 32×32 jobs share each of their 3 calls; the 48×32 job has its own 3.
        #expect(metrics.denoiserCalls == 6 && metrics.denoisingSteps == 9)
        for (request, log) in zip(requests, logs) {
            let alone = try pipeline.generate(request)
            #expect(log.image?.pixels == alone.pixels, "\(request.prompt) differs when scheduled")
            #expect(log.previewSteps == [1, 2])
        }
        #expect(executor.activeGenerationCount == 0)

        let unknown = ImageEventLog()
        _ = try scheduler.submitImage(ImageJobRequest(model: "other", image: requests[0]), onEvent: unknown.handler)
        while scheduler.runIteration() {}
        #expect(unknown.error == .invalidRequest("no image model named 'other'"))
    }
}
