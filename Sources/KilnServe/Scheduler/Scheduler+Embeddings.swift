/// The embedding phase of an iteration. Embedding jobs wait in the same queue as text and images
/// and are admitted up to `maxRunningEmbeddingJobs`. Their inputs are batched across jobs into
/// passes of one model: oldest job first, inputs in order, until the pass's token budget is
/// reached (an input longer than the budget runs alone). The encoder takes no padding, so a pass
/// costs what its real tokens cost and needs no length buckets.
///
/// Text first: a pass advances one slice per iteration, `embeddingRowsPerIterationBesideText`
/// token rows of work while text sequences run (so that each iteration, and each token's latency,
/// grows by a small bounded amount) and `embeddingRowsPerIteration` otherwise (so that text that
/// arrives waits for one bounded slice, not a whole pass). Runs with `iterationLock` held, on the
/// scheduler thread.
extension Scheduler {
    // MARK: Submitting

    /// Queues an embedding job; thread-safe. Its one event is `.embeddingsFinished`,
    /// `.done(.cancelled)` or `.error`.
    ///
    /// - Throws: `.queueFull` (HTTP 429), `.shuttingDown` (503), `.invalidRequest` (400, also when
    ///   no embedding executor is configured, and for an empty request or input).
    public func submitEmbedding(_ request: EmbeddingJobRequest, onEvent: @escaping JobEventHandler) throws(ServeError) -> Job {
        guard embeddingExecutor != nil else { throw ServeError.invalidRequest("this server has no embedding model") }
        guard !request.inputs.isEmpty else { throw ServeError.invalidRequest("an embedding job needs at least one input") }
        guard request.inputs.allSatisfy({ !$0.isEmpty }) else {
            throw ServeError.invalidRequest("every input of an embedding job needs at least one token")
        }
        return try enqueue(.embedding(request), onEvent: onEvent)
    }

    // MARK: The phase

    /// Ends cancelled or expired embedding jobs, admits new ones, and advances (or starts) the
    /// pass. Returns whether anything happened.
    func runEmbeddingPhase(now: Duration) -> Bool {
        guard let executor = embeddingExecutor else { return false }
        var progressed = endFinishedEmbeddings(now: now)
        progressed = admitEmbeddingJobs(now: now) || progressed
        if let pass = embeddingPass, pass.isAbandoned { embeddingPass = nil }
        guard let inFlight = embeddingPass ?? startEmbeddingPass(executor) else { return progressed }
        embeddingPass = inFlight
        let rows = running.isEmpty ? settings.embeddingRowsPerIteration : settings.embeddingRowsPerIterationBesideText
        let started = clock.now()
        do {
            try inFlight.pass.advance(tokenRows: rows)
            if inFlight.pass.isComplete {
                let vectors = try inFlight.pass.finish()
                embeddingPass = nil
                recorder.update {
                    $0.embeddingPasses += 1
                    $0.embeddingInputs += inFlight.owners.count
                    $0.embeddingTokens += inFlight.tokenCount
                }
                deliver(vectors, of: inFlight)
            }
        } catch {
            embeddingPass = nil
            let failure = Self.serveError(error)
            for (embedding, _) in inFlight.owners { endEmbedding(embedding, outcome: .failed(failure)) }
        }
        recorder.observe(.embeddingStep(seconds: (clock.now() - started).seconds))
        runningEmbeddings.removeAll { $0.hasEnded }
        return true
    }

    private func endFinishedEmbeddings(now: Duration) -> Bool {
        var ended = false
        for embedding in runningEmbeddings {
            let job = embedding.job
            if job.state == .cancelled || job.isStopRequested {
                if job.isStopRequested { _ = job.markEnded(.cancelled) }
                endEmbedding(embedding, outcome: .cancelled)
            } else if let deadline = job.deadline, now >= deadline {
                endEmbedding(embedding, outcome: .failed(.deadlineExceeded))
            }
            ended = ended || embedding.hasEnded
        }
        runningEmbeddings.removeAll { $0.hasEnded }
        return ended
    }

    private func admitEmbeddingJobs(now: Duration) -> Bool {
        var admitted = false
        while runningEmbeddings.count < settings.maxRunningEmbeddingJobs,
            let job = queue.popFirst(of: { $0.work.kind == .embedding }, if: { _ in true })
        {
            admitted = true
            recorder.observe(.queueTime(seconds: (now - job.submittedAt).seconds))
            guard job.markRunning(), case .embedding(let request) = job.work else {
                deliverEnd(of: job, outcome: .cancelled, usage: job.work.usageBeforeRunning)
                continue
            }
            runningEmbeddings.append(ActiveEmbedding(job: job, request: request, admissionOrder: nextAdmissionOrder))
            nextAdmissionOrder += 1
        }
        return admitted
    }

    /// Gathers the next pass (the oldest job with inputs left picks the model) and starts it.
    /// A start that throws fails the jobs whose inputs it held.
    private func startEmbeddingPass(_ executor: EmbeddingExecutor) -> EmbeddingPassInFlight? {
        guard let leader = runningEmbeddings.first(where: { $0.hasPendingInputs }) else { return nil }
        let model = leader.request.model
        let budget = running.isEmpty ? settings.embeddingPassTokens : settings.embeddingPassTokensBesideText
        var inputs: [[TokenID]] = []
        var owners: [(embedding: ActiveEmbedding, input: Int)] = []
        var tokens = 0
        gathering: for embedding in runningEmbeddings where embedding.hasPendingInputs && embedding.request.model == model {
            while embedding.hasPendingInputs {
                let input = embedding.request.inputs[embedding.nextInput]
                if !inputs.isEmpty && tokens + input.count > budget { break gathering }
                inputs.append(input)
                owners.append((embedding, embedding.nextInput))
                tokens += input.count
                embedding.nextInput += 1
            }
        }
        do {
            let pass = try executor.startPass(model: model, inputs: inputs)
            return EmbeddingPassInFlight(pass: pass, owners: owners, tokenCount: tokens)
        } catch {
            let failure = Self.serveError(error)
            for (embedding, _) in owners { endEmbedding(embedding, outcome: .failed(failure)) }
            runningEmbeddings.removeAll { $0.hasEnded }
            return nil
        }
    }

    /// Hands each vector to its job; a job with every vector ends.
    private func deliver(_ vectors: [[Float]], of inFlight: EmbeddingPassInFlight) {
        guard vectors.count == inFlight.owners.count else {
            let failure = ServeError.executorFailed("the embedding pass returned \(vectors.count) vectors for \(inFlight.owners.count) inputs")
            for (embedding, _) in inFlight.owners { endEmbedding(embedding, outcome: .failed(failure)) }
            return
        }
        for (vector, owner) in zip(vectors, inFlight.owners) where !owner.embedding.hasEnded {
            owner.embedding.vectors[owner.input] = vector
            owner.embedding.embeddedCount += 1
            if owner.embedding.isComplete { endEmbedding(owner.embedding, outcome: .vectors(owner.embedding.vectors)) }
        }
    }

    /// How an embedding job ends.
    enum EmbeddingOutcome {
        case vectors([[Float]])
        case failed(ServeError)
        case cancelled
    }

    /// Delivers an embedding job's terminal event, once.
    func endEmbedding(_ embedding: ActiveEmbedding, outcome: EmbeddingOutcome) {
        guard !embedding.hasEnded else { return }
        embedding.hasEnded = true
        let job = embedding.job
        let usage = job.work.usageBeforeRunning
        switch outcome {
        case .vectors(let vectors):
            guard job.markEnded(.finished(.stop)) else { return deliverEnd(of: job, outcome: .cancelled, usage: usage) }
            recorder.update { $0.jobsFinished += 1 }
            recorder.observe(.endToEndLatency(seconds: (clock.now() - job.submittedAt).seconds))
            job.emit(.embeddingsFinished(vectors: vectors, usage: usage))
        case .failed(let error):
            deliverEnd(of: job, outcome: .failed(error), usage: usage)
        case .cancelled:
            deliverEnd(of: job, outcome: .cancelled, usage: usage)
        }
    }

    /// Fails every embedding job with `.shuttingDown`; `iterationLock` held.
    func tearDownEmbeddingsLocked() {
        embeddingPass = nil
        for embedding in runningEmbeddings { endEmbedding(embedding, outcome: .failed(.shuttingDown)) }
        runningEmbeddings.removeAll()
    }
}
