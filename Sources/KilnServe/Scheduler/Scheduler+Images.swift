/// The image phase of an iteration: image jobs wait in the same queue as text, are admitted up to
/// `maxRunningImages`, and advance one denoising step per lane turn, the generations of one batch
/// key (model, size, steps) together in one denoiser call, up to `maxImageBatch` of them. Keys take
/// turns: the generation stepped least recently picks the key. With `imageStepsOverlapText` the
/// turn runs on the image lane while text iterations go on; otherwise it runs in the iteration,
/// before the text batch. Runs with `iterationLock` held.
extension Scheduler {
    // MARK: Submitting

    /// Queues an image job; thread-safe. The events are `.imageProgress` after every step, then
    /// `.imageFinished`, `.done(.cancelled)` or `.error`.
    ///
    /// - Throws: `.queueFull` (HTTP 429), `.shuttingDown` (503), `.invalidRequest` (400, also when
    ///   no image executor is configured).
    public func submitImage(_ request: ImageJobRequest, onEvent: @escaping JobEventHandler) throws(ServeError) -> Job {
        guard imageExecutor != nil else { throw ServeError.invalidRequest("this server has no image model") }
        guard request.width > 0, request.height > 0 else {
            throw ServeError.invalidRequest("an image job needs a positive width and height")
        }
        guard request.steps >= 1 else {
            throw ServeError.invalidRequest("an image job needs at least one step (got \(request.steps))")
        }
        guard request.previewInterval >= 0 else {
            throw ServeError.invalidRequest("the preview interval must not be negative (got \(request.previewInterval))")
        }
        return try enqueue(.image(request), onEvent: onEvent)
    }

    // MARK: The phase

    /// Collects a finished lane turn, ends cancelled or expired generations, admits image jobs and
    /// launches the next turn. Returns whether anything happened.
    func runImagePhase(now: Duration) -> Bool {
        guard let executor = imageExecutor else { return false }
        var progressed = false
        if let unit = imageUnit {
            guard !imageLane.isBusy else { return false }
            imageUnit = nil
            collect(unit, now: clock.now())
            progressed = true
        }
        progressed = endFinishedImages(now: now) || progressed
        progressed = admitImageJobs(now: now) || progressed
        guard let unit = planImageTurn() else { return progressed }
        imageUnit = unit
        imageLane.launch { unit.run(on: executor) }
        if !imageLane.overlaps {
            imageUnit = nil
            collect(unit, now: clock.now())
        }
        return true
    }

    /// Whether a lane turn is running now (the lane wakes the loop when it ends).
    var isImageTurnInFlight: Bool { imageUnit != nil }

    private func endFinishedImages(now: Duration) -> Bool {
        var ended = false
        for generation in runningImages {
            let job = generation.job
            if job.state == .cancelled || job.isStopRequested {
                // A stop request has no meaning half-way through an image: it ends like a cancel.
                if job.isStopRequested { _ = job.markEnded(.cancelled) }
                endImage(generation, outcome: .cancelled)
            } else if let deadline = job.deadline, now >= deadline {
                endImage(generation, outcome: .failed(.deadlineExceeded))
            }
            ended = ended || generation.hasEnded
        }
        runningImages.removeAll { $0.hasEnded }
        return ended
    }

    private func admitImageJobs(now: Duration) -> Bool {
        var admitted = false
        while runningImages.count < settings.maxRunningImages,
            let job = queue.popFirst(of: { $0.work.kind == .image }, if: { _ in true })
        {
            admitted = true
            // Not the iteration's `now`: this phase delivers finished images first, and a client
            // may submit its next job before this line (its queue time would be negative).
            recorder.observe(.queueTime(seconds: (clock.now() - job.submittedAt).seconds))
            guard job.markRunning(), case .image(let request) = job.work else {
                deliverEnd(of: job, outcome: .cancelled, usage: job.work.usageBeforeRunning)
                continue
            }
            runningImages.append(ActiveImageGeneration(job: job, request: request, admissionOrder: nextAdmissionOrder))
            nextAdmissionOrder += 1
        }
        return admitted
    }

    /// The next turn: the generation stepped least recently (oldest first among equals) picks the
    /// batch key, and the batch takes up to `maxImageBatch` generations of that key in that order.
    private func planImageTurn() -> ImageWorkUnit? {
        let candidates = runningImages.filter { !$0.isDenoised }
        guard let leader = candidates.min(by: { ($0.lastStepOrder, $0.admissionOrder) < ($1.lastStepOrder, $1.admissionOrder) }) else {
            return nil
        }
        let batch = candidates.filter { $0.key == leader.key }
            .sorted { ($0.lastStepOrder, $0.admissionOrder) < ($1.lastStepOrder, $1.admissionOrder) }
            .prefix(settings.maxImageBatch)
        imageStepOrder += 1
        for generation in batch { generation.lastStepOrder = imageStepOrder }
        let starts = batch.filter { !$0.isStarted }.map { (id: $0.job.id, request: $0.request) }
        for generation in batch { generation.isStarted = true }
        return ImageWorkUnit(
            starts: starts, batch: batch.map(\.job.id),
            previews: Set(batch.filter(\.previewsNextStep).map(\.job.id)),
            decodes: Set(batch.filter { $0.stepsDone + 1 == $0.totalSteps }.map(\.job.id)))
    }

    /// Applies a turn's results: failed starts and steps end their jobs; stepped generations
    /// report progress; finished ones deliver their image.
    private func collect(_ unit: ImageWorkUnit, now: Duration) {
        let byID = Dictionary(uniqueKeysWithValues: runningImages.map { ($0.job.id, $0) })
        for (id, error) in unit.startErrors {
            if let generation = byID[id] { endImage(generation, outcome: .failed(Self.serveError(error))) }
        }
        if let error = unit.stepError {
            let failure = ServeError.executorFailed(String(describing: error))
            for id in unit.batch where unit.startErrors[id] == nil {
                if let generation = byID[id] { endImage(generation, outcome: .failed(failure)) }
            }
        }
        if !unit.stepped.isEmpty {
            recorder.observe(.denoisingStep(generations: unit.stepped.count, seconds: unit.stepSeconds))
            recorder.recordDenoisingSteps(unit.stepped.count, at: now)
        }
        for id in unit.stepped {
            guard let generation = byID[id], !generation.hasEnded else { continue }
            generation.stepsDone += 1
            let job = generation.job
            if job.state == .cancelled {
                endImage(generation, outcome: .cancelled)
                continue
            }
            if generation.isDenoised {
                switch unit.decoded[id] {
                case .success(let image)?: endImage(generation, outcome: .image(image))
                case .failure(let error)?: endImage(generation, outcome: .failed(.executorFailed(String(describing: error))))
                case nil: endImage(generation, outcome: .failed(.executorFailed("the last step was not decoded")))
                }
                continue
            }
            job.emit(
                .imageProgress(
                    ImageProgress(
                        step: generation.stepsDone, totalSteps: generation.totalSteps,
                        preview: unit.previewImages[id])))
        }
        runningImages.removeAll { $0.hasEnded }
    }

    /// How an image job ends.
    enum ImageOutcome {
        case image(RenderedImage)
        case failed(ServeError)
        case cancelled
    }

    /// Ends an image job: releases its executor state and delivers the terminal event, once.
    /// Only called while no lane turn is in flight.
    func endImage(_ generation: ActiveImageGeneration, outcome: ImageOutcome) {
        guard !generation.hasEnded else { return }
        generation.hasEnded = true
        if generation.isStarted { imageExecutor?.releaseGeneration(generation.job.id) }
        let job = generation.job
        let usage = job.work.usageBeforeRunning
        switch outcome {
        case .image(let image):
            guard job.markEnded(.finished(.stop)) else { return deliverEnd(of: job, outcome: .cancelled, usage: usage) }
            recorder.update {
                $0.jobsFinished += 1
                $0.imagesGenerated += 1
            }
            recorder.observe(.imageLatency(seconds: (clock.now() - job.submittedAt).seconds))
            job.emit(.imageFinished(image))
        case .failed(let error):
            deliverEnd(of: job, outcome: .failed(error), usage: usage)
        case .cancelled:
            deliverEnd(of: job, outcome: .cancelled, usage: usage)
        }
    }

    /// Fails every image job with `.shuttingDown` after the turn in flight; `iterationLock` held.
    func tearDownImagesLocked() {
        imageLane.waitUntilIdle()
        imageUnit = nil
        for generation in runningImages { endImage(generation, outcome: .failed(.shuttingDown)) }
        runningImages.removeAll()
        imageLane.stop()
    }

    /// An executor's start error as the client should see it: a `ServeError` as thrown (an
    /// invalid request is the client's fault, 400), anything else the server's.
    static func serveError(_ error: Error) -> ServeError {
        if let serve = error as? ServeError { return serve }
        return .executorFailed(String(describing: error))
    }
}
