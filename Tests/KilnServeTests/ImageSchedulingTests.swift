import Foundation
import KilnServe
import Testing

/// Collects an image or embedding job's events: progress steps and the terminal event.
final class WorkEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var progressSteps: [Int] = []
    private(set) var previewSteps: [Int] = []
    private(set) var terminals: [JobEvent] = []
    private(set) var eventsAfterTerminal = 0
    private let ended = DispatchSemaphore(value: 0)

    var handler: JobEventHandler {
        { [self] event in
            lock.withLock {
                if !terminals.isEmpty { eventsAfterTerminal += 1 }
                switch event {
                case .imageProgress(let progress):
                    progressSteps.append(progress.step)
                    if progress.preview != nil { previewSteps.append(progress.step) }
                default:
                    if event.isTerminal { terminals.append(event) }
                }
            }
            if event.isTerminal { ended.signal() }
        }
    }

    var image: RenderedImage? {
        lock.withLock {
            guard case .imageFinished(let image)? = terminals.first else { return nil }
            return image
        }
    }

    /// An embedding job's vectors, once it finished (exactly one terminal event).
    var vectors: [[Float]]? {
        lock.withLock {
            guard terminals.count == 1, case .embeddingsFinished(let vectors, _)? = terminals.first else { return nil }
            return vectors
        }
    }

    var usage: TokenUsage? {
        lock.withLock {
            guard case .embeddingsFinished(_, let usage)? = terminals.first else { return nil }
            return usage
        }
    }

    var error: ServeError? {
        lock.withLock {
            guard case .error(let error)? = terminals.first else { return nil }
            return error
        }
    }

    var wasCancelled: Bool {
        lock.withLock {
            guard case .done(let completion)? = terminals.first else { return false }
            return completion.reason == .cancelled
        }
    }

    func waitForEnd(seconds: Double) -> Bool { ended.wait(timeout: .now() + seconds) == .success }
}

/// A scheduler with a fake language model and a fake diffusion engine, on a manual clock.
struct ImageHarness {
    let scheduler: Scheduler
    let text: FakeModelExecutor
    let images: FakeImageExecutor
    let clock = ManualClock()

    init(_ configure: (inout SchedulerSettings) -> Void = { _ in }) throws {
        var settings = SchedulerSettings()
        settings.kvBlockCount = 64
        settings.kvBlockSize = 4
        settings.maxBatchSequences = 8
        settings.tokenBudgetPerIteration = 64
        settings.admissionReserveBlocks = 0
        settings.imageStepsOverlapText = false
        configure(&settings)
        text = FakeModelExecutor(blockSize: settings.kvBlockSize, blockCount: settings.kvBlockCount)
        images = FakeImageExecutor()
        scheduler = try Scheduler(settings: settings, executor: text, imageExecutor: images, clock: clock)
    }

    @discardableResult
    func submitImage(
        size: Int = 64, steps: Int = 4, seed: UInt64 = 1, preview: Int = 0, prompt: String = "p",
        timeout: Duration? = nil, log: WorkEventLog = WorkEventLog()
    ) throws -> (job: Job, log: WorkEventLog) {
        let request = ImageJobRequest(
            model: "fake", width: size, height: size, steps: steps,
            parameters: FakeImage(prompt: prompt, seed: seed), previewInterval: preview, timeout: timeout)
        return (try scheduler.submitImage(request, onEvent: log.handler), log)
    }

    @discardableResult
    func runUntilIdle(limit: Int = 1000) -> Int {
        var count = 0
        while count < limit, scheduler.runIteration() { count += 1 }
        return count
    }
}

@Suite struct ImageSchedulingTests {
    @Test func jobsOfOneSizeAndStepCountShareEachDenoiserCall() throws {
        let harness = try ImageHarness()
        let same = try (1...3).map { try harness.submitImage(size: 64, steps: 4, seed: UInt64($0)) }
        let other = try harness.submitImage(size: 32, steps: 4, seed: 9)
        let longer = try harness.submitImage(size: 64, steps: 2, seed: 10)
        harness.runUntilIdle()
        let (a, b, c) = (same[0].job.id, same[1].job.id, same[2].job.id)
        let (d, e) = (other.job.id, longer.job.id)
        // Keys take turns; a key's jobs go together. Step counts differ → different keys.
        #expect(harness.images.stepCalls == [[a, b, c], [d], [e], [a, b, c], [d], [e], [a, b, c], [d], [a, b, c], [d]])
        for (index, entry) in (same + [other]).enumerated() {
            let seed: UInt64 = index < 3 ? UInt64(index + 1) : 9
            #expect(entry.log.image?.pixels == FakeImageExecutor.expectedImage(seed: seed, steps: 4).pixels)
            #expect(entry.log.progressSteps == [1, 2, 3])
            #expect(entry.log.eventsAfterTerminal == 0)
        }
        #expect(longer.log.image?.pixels == FakeImageExecutor.expectedImage(seed: 10, steps: 2).pixels)
        #expect(Set(harness.images.released) == Set([a, b, c, d, e]) && harness.images.activeCount == 0)
        let metrics = harness.scheduler.metrics()
        #expect(metrics.denoisingSteps == 4 * 4 + 2 && metrics.denoiserCalls == 10 && metrics.imagesGenerated == 5)
        #expect(metrics.runningImageJobs == 0 && metrics.queuedImageJobs == 0)
    }

    @Test func batchesStayWithinTheLimitAndAdmissionWithinTheRunningLimit() throws {
        let harness = try ImageHarness {
            $0.maxImageBatch = 2
            $0.maxRunningImages = 3
        }
        let entries = try (1...5).map { try harness.submitImage(steps: 3, seed: UInt64($0)) }
        #expect(harness.scheduler.metrics().queuedImageJobs == 5)
        harness.scheduler.runIteration()
        let metrics = harness.scheduler.metrics()
        #expect(metrics.runningImageJobs == 3 && metrics.queuedImageJobs == 2)
        harness.runUntilIdle()
        #expect(harness.images.stepCalls.allSatisfy { $0.count <= 2 })
        for entry in entries {
            #expect(harness.images.stepCalls.filter { $0.contains(entry.job.id) }.count == 3)
            #expect(entry.log.image != nil)
        }
    }

    @Test func textKeepsItsTokenEveryIterationWhileAnImageDenoises() throws {
        let harness = try ImageHarness()
        let image = try harness.submitImage(steps: 6)
        let textLog = EventLog()
        let request = GenerationRequest(promptTokens: tokens(1, count: 5), maxNewTokens: 6, sampling: FakeSampling(seed: 3))
        _ = try harness.scheduler.submit(request, onEvent: textLog.handler)
        for iteration in 1...6 {
            harness.scheduler.runIteration()
            // Inline mode: one denoising step and one token per iteration, neither starved.
            #expect(textLog.tokens.count == iteration)
            #expect(harness.images.stepCalls.count == iteration)
        }
        harness.runUntilIdle()
        #expect(image.log.image != nil && textLog.completion?.reason == .length)
        #expect(textLog.tokens == FakeModel.reference(prompt: tokens(1, count: 5), seed: 3, maxNewTokens: 6))
    }

    @Test func cancellationFreesTheJobAtTheNextStep() throws {
        let harness = try ImageHarness()
        let kept = try harness.submitImage(steps: 8, seed: 1)
        let dropped = try harness.submitImage(steps: 8, seed: 2)
        harness.scheduler.runIteration()
        harness.scheduler.runIteration()
        dropped.job.cancel()
        harness.scheduler.runIteration()
        #expect(dropped.log.wasCancelled)
        #expect(harness.images.released == [dropped.job.id])
        #expect(harness.images.stepCalls.last == [kept.job.id])
        #expect(harness.scheduler.metrics().runningImageJobs == 1)
        harness.runUntilIdle()
        #expect(kept.log.image?.pixels == FakeImageExecutor.expectedImage(seed: 1, steps: 8).pixels)
        #expect(harness.images.stepCalls.filter { $0.contains(dropped.job.id) }.count == 2)

        // Cancelled while queued: it never reaches the executor.
        let queued = try harness.submitImage()
        queued.job.cancel()
        #expect(queued.log.wasCancelled)
        harness.runUntilIdle()
        #expect(!harness.images.started.contains(queued.job.id))
    }

    @Test func aFullQueueRefusesBothKindsWith429() throws {
        let harness = try ImageHarness { $0.maxQueuedJobs = 1 }
        try harness.submitImage()
        #expect(throws: ServeError.queueFull(capacity: 1, retryAfterSeconds: 1)) { try harness.submitImage() }
        let request = GenerationRequest(promptTokens: [1, 2], maxNewTokens: 2, sampling: FakeSampling(seed: 1))
        #expect(throws: ServeError.queueFull(capacity: 1, retryAfterSeconds: 1)) {
            _ = try harness.scheduler.submit(request, onEvent: { _ in })
        }
        harness.scheduler.runIteration()
        try harness.submitImage()
    }

    @Test func deadlinesEndQueuedAndRunningImageJobs() throws {
        let harness = try ImageHarness { $0.maxRunningImages = 1 }
        let running = try harness.submitImage(steps: 10, timeout: .seconds(5))
        let queued = try harness.submitImage(steps: 10, timeout: .seconds(2))
        harness.scheduler.runIteration()
        harness.clock.advance(by: .seconds(3))
        harness.scheduler.runIteration()
        #expect(queued.log.error == .deadlineExceeded)
        #expect(running.log.error == nil)
        harness.clock.advance(by: .seconds(3))
        harness.scheduler.runIteration()
        #expect(running.log.error == .deadlineExceeded)
        #expect(harness.images.released == [running.job.id] && harness.images.activeCount == 0)
    }

    @Test func previewsComeEveryKStepsButNotWithTheImage() throws {
        let harness = try ImageHarness()
        let every2 = try harness.submitImage(steps: 6, preview: 2)
        let none = try harness.submitImage(steps: 6, seed: 5)
        harness.runUntilIdle()
        #expect(every2.log.progressSteps == [1, 2, 3, 4, 5])
        #expect(every2.log.previewSteps == [2, 4])
        #expect(none.log.previewSteps.isEmpty && none.log.image != nil)
    }

    @Test func failuresEndTheirJobsAndOthersGoOn() throws {
        let harness = try ImageHarness()
        let broken = try harness.submitImage(size: 64, seed: 1)
        let sameBatch = try harness.submitImage(size: 64, seed: 2)
        let otherBatch = try harness.submitImage(size: 32, seed: 3)
        let unstartable = try harness.submitImage(size: 16, prompt: "unstartable")
        harness.images.failingID = broken.job.id
        harness.runUntilIdle()
        guard case .executorFailed? = broken.log.error, case .executorFailed? = sameBatch.log.error else {
            Issue.record("the failed step's jobs should fail: \(String(describing: broken.log.error))")
            return
        }
        #expect(unstartable.log.error == .invalidRequest("cannot start \(unstartable.job.id)"))
        #expect(otherBatch.log.image != nil)
        #expect(harness.images.activeCount == 0)
    }

    @Test func refusedWithoutAnImageEngineOrASize() throws {
        let plain = try Scheduler(executor: FakeModelExecutor(blockSize: 16, blockCount: 1024))
        let request = ImageJobRequest(model: "m", width: 64, height: 64, steps: 20, parameters: FakeImage())
        #expect(throws: ServeError.invalidRequest("this server has no image model")) {
            _ = try plain.submitImage(request, onEvent: { _ in })
        }
        let harness = try ImageHarness()
        let sizeless = ImageJobRequest(model: "m", width: 0, height: 0, steps: 20, parameters: FakeImage())
        #expect(throws: ServeError.self) { _ = try harness.scheduler.submitImage(sizeless, onEvent: { _ in }) }
    }

    @Test func stopFailsEveryImageJob() throws {
        let harness = try ImageHarness { $0.maxRunningImages = 1 }
        let running = try harness.submitImage(steps: 10)
        let queued = try harness.submitImage(steps: 10)
        harness.scheduler.runIteration()
        harness.scheduler.stop()
        #expect(running.log.error == .shuttingDown && queued.log.error == .shuttingDown)
        #expect(harness.images.activeCount == 0)
        #expect(throws: ServeError.shuttingDown) { try harness.submitImage() }
    }

    /// On the scheduler thread with the image lane overlapping: tokens keep coming while a slow
    /// denoising step runs, and everything finishes.
    @Test func overlappingStepsDoNotHoldUpTokens() throws {
        var settings = SchedulerSettings()
        settings.kvBlockCount = 64
        settings.kvBlockSize = 4
        settings.imageStepsOverlapText = true
        let text = FakeModelExecutor(blockSize: 4, blockCount: 64)
        let images = FakeImageExecutor()
        images.stepDelay = 1.0
        let scheduler = try Scheduler(settings: settings, executor: text, imageExecutor: images)
        scheduler.start()
        defer { scheduler.stop() }
        let imageLog = WorkEventLog()
        let request = ImageJobRequest(model: "fake", width: 8, height: 8, steps: 2, parameters: FakeImage(seed: 4))
        _ = try scheduler.submitImage(request, onEvent: imageLog.handler)
        Thread.sleep(forTimeInterval: 0.05)  // the first step is under way
        let textLog = EventLog()
        let started = Date()
        _ = try scheduler.submit(
            GenerationRequest(promptTokens: [1, 2, 3], maxNewTokens: 20, sampling: FakeSampling(seed: 1)),
            onEvent: textLog.handler)
        #expect(textLog.waitForEnd(seconds: 10))
        let textSeconds = Date().timeIntervalSince(started)
        #expect(imageLog.waitForEnd(seconds: 10))
        // 20 tokens of a fake model take far less than the 1 s step they overlapped.
        #expect(textSeconds < 0.5, "text waited for the denoising step: \(textSeconds) s")
        #expect(textLog.tokens.count == 20)
        #expect(imageLog.image?.pixels == FakeImageExecutor.expectedImage(seed: 4, steps: 2).pixels)
    }
}
