import Foundation
import KilnServe
import Testing

/// A stand-in for the engines' worker pools: records every share the scheduler applies.
final class RecordingThreadBudget: ThreadBudget, @unchecked Sendable {
    let cores: Int
    private let lock = NSLock()
    private var applied: [ThreadShares] = []

    init(cores: Int) { self.cores = cores }

    func apply(_ shares: ThreadShares) { lock.withLock { applied.append(shares) } }

    var history: [ThreadShares] { lock.withLock { applied } }
    var current: ThreadShares? { history.last }
}

@Suite struct ComputeSharingTests {
    // MARK: The policy

    @Test func textFirstSplitsTheCoresOnlyWhileBothRun() {
        let policy = ComputeSharing.textFirst
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 2, imageThreadsBesideText: 0) == ThreadShares(text: 1, image: 1))
        #expect(policy.shares(textBusy: true, imageBusy: false, cores: 2, imageThreadsBesideText: 0) == ThreadShares(text: 2, image: 2))
        #expect(policy.shares(textBusy: false, imageBusy: true, cores: 2, imageThreadsBesideText: 0) == ThreadShares(text: 2, image: 2))
        #expect(policy.shares(textBusy: false, imageBusy: false, cores: 2, imageThreadsBesideText: 0) == ThreadShares(text: 2, image: 2))
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 8, imageThreadsBesideText: 0) == ThreadShares(text: 4, image: 4))
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 7, imageThreadsBesideText: 0) == ThreadShares(text: 4, image: 3))
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 8, imageThreadsBesideText: 1) == ThreadShares(text: 7, image: 1))
    }

    @Test func everySideKeepsAtLeastOneThread() {
        let policy = ComputeSharing.textFirst
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 1, imageThreadsBesideText: 0) == ThreadShares(text: 1, image: 1))
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 4, imageThreadsBesideText: 4) == ThreadShares(text: 1, image: 4))
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 4, imageThreadsBesideText: 9) == ThreadShares(text: 1, image: 4))
        #expect(policy.shares(textBusy: true, imageBusy: true, cores: 0, imageThreadsBesideText: 0) == ThreadShares(text: 1, image: 1))
    }

    @Test func offGivesEveryCoreToEachSide() {
        for (text, image) in [(true, true), (true, false), (false, true)] {
            #expect(
                ComputeSharing.off.shares(textBusy: text, imageBusy: image, cores: 2, imageThreadsBesideText: 1)
                    == ThreadShares(text: 2, image: 2))
        }
    }

    @Test func theSettingsRefuseANegativeImageShare() {
        var settings = SchedulerSettings()
        settings.imageThreadsBesideText = -1
        #expect(throws: ServeError.self) { try settings.validate() }
        settings.imageThreadsBesideText = 0
        #expect(throws: Never.self) { try settings.validate() }
    }

    // MARK: The scheduler applying it

    /// A scheduler whose image lane overlaps text, with slow denoising steps (so the image is
    /// still running while a short text job comes and goes), driven by hand.
    struct Harness {
        let scheduler: Scheduler
        let budget = RecordingThreadBudget(cores: 2)

        init(sharing: ComputeSharing, overlap: Bool = true) throws {
            var settings = SchedulerSettings()
            settings.kvBlockCount = 64
            settings.kvBlockSize = 4
            settings.imageStepsOverlapText = overlap
            settings.computeSharing = sharing
            let images = FakeImageExecutor()
            images.stepDelay = 0.2
            scheduler = try Scheduler(
                settings: settings, executor: FakeModelExecutor(blockSize: 4, blockCount: 64), imageExecutor: images,
                threadBudget: budget)
        }

        /// Runs an image of three steps and, once it is under way, a text job of four tokens;
        /// returns the shares in force when each token was sampled, and the image's log.
        func runTextBesideImage() throws -> (sharesAtTokens: [ThreadShares?], image: WorkEventLog) {
            let image = WorkEventLog()
            let request = ImageJobRequest(model: "fake", width: 8, height: 8, steps: 3, parameters: FakeImage(seed: 2))
            _ = try scheduler.submitImage(request, onEvent: image.handler)
            scheduler.runIteration()  // admits the image and launches its first step
            let text = EventLog()
            let lock = NSLock()
            var shares: [ThreadShares?] = []
            text.onToken = { [budget] _ in lock.withLock { shares.append(budget.current) } }
            _ = try scheduler.submit(
                GenerationRequest(promptTokens: [1, 2, 3], maxNewTokens: 4, sampling: FakeSampling(seed: 1)),
                onEvent: text.handler)
            let deadline = Date().addingTimeInterval(20)
            while image.image == nil || text.completion == nil, Date() < deadline {
                if !scheduler.runIteration() { Thread.sleep(forTimeInterval: 0.002) }
            }
            #expect(text.tokens.count == 4 && image.image != nil)
            scheduler.stop()
            return (lock.withLock { shares }, image)
        }
    }

    @Test func textRunsOnItsShareWhileTheImageRunsAndEachGetsEveryCoreAlone() throws {
        let harness = try Harness(sharing: .textFirst)
        let (sharesAtTokens, _) = try harness.runTextBesideImage()
        // Every token was sampled with the image still running: on one of the two cores.
        #expect(sharesAtTokens == Array(repeating: ThreadShares(text: 1, image: 1), count: 4))
        // The image alone had both cores, before and after the text job.
        #expect(
            harness.budget.history == [
                ThreadShares(text: 2, image: 2), ThreadShares(text: 1, image: 1), ThreadShares(text: 2, image: 2),
            ])
    }

    @Test func offNeverSplitsTheCores() throws {
        let harness = try Harness(sharing: .off)
        let (sharesAtTokens, _) = try harness.runTextBesideImage()
        #expect(sharesAtTokens == Array(repeating: ThreadShares(text: 2, image: 2), count: 4))
        #expect(harness.budget.history == [ThreadShares(text: 2, image: 2)])
    }

    /// Inline steps (no overlap) never run beside a text batch: nothing to share.
    @Test func inlineImageStepsNeverSplitTheCores() throws {
        let harness = try Harness(sharing: .textFirst, overlap: false)
        let (sharesAtTokens, _) = try harness.runTextBesideImage()
        #expect(sharesAtTokens == Array(repeating: ThreadShares(text: 2, image: 2), count: 4))
        #expect(harness.budget.history == [ThreadShares(text: 2, image: 2)])
    }
}
