/// One scheduler iteration (see `Scheduler`): phases 1, 4 and 5 here, 2 and 3 in
/// `Scheduler+Admission.swift`. Everything here runs with
/// `iterationLock` held, on the scheduler thread or a thread driving `runIteration()`.
extension Scheduler {
    /// How a job ends.
    enum Outcome {
        case finished(FinishReason, stopToken: TokenID?)
        case failed(ServeError)
        /// `Job.cancel()` was called (or, for an image, a stop was requested half-way).
        case cancelled
    }

    func step() -> IterationOutcome {
        iterationLock.lock()
        enterIteration()
        defer {
            if leaveIteration() { tearDownLocked() }
            iterationLock.unlock()
        }
        let now = clock.now()
        var progressed = endFinishedSequences(now: now)
        progressed = admitWaitingWork(now: now) || progressed
        progressed = runImagePhase(now: now) || progressed
        // Shares before the embedding slice and again before the text batch: the slice may admit.
        updateThreadShares()
        progressed = runEmbeddingPhase(now: now) || progressed
        updateThreadShares()
        if !running.isEmpty {
            reserveBlocksForNextTokens()
        }
        if !running.isEmpty {
            runBatch()
            progressed = true
        }
        publishGauges()
        if progressed { return .progressed }
        // A lane turn in flight wakes the loop when it ends.
        if isImageTurnInFlight { return .idle }
        let waiting = queue.count(where: { $0.work.kind != .image })
        return preempted.isEmpty && waiting == 0 && runningImages.isEmpty && runningEmbeddings.isEmpty ? .idle : .stalled
    }

    // MARK: 1. End cancelled, stopped and expired work

    private func endFinishedSequences(now: Duration) -> Bool {
        let before = running.count + preempted.count
        for sequence in running {
            if let outcome = endingOutcome(of: sequence, now: now) { endSequence(sequence, outcome: outcome) }
        }
        for sequence in preempted {
            if let outcome = endingOutcome(of: sequence, now: now) { endSequence(sequence, outcome: outcome) }
        }
        running.removeAll { $0.hasEnded }
        preempted.removeAll { $0.hasEnded }
        let expired = queue.removeAll { job in job.deadline.map { now >= $0 } ?? false }
        for job in expired {
            deliverEnd(of: job, outcome: .failed(.deadlineExceeded), usage: job.work.usageBeforeRunning)
        }
        return running.count + preempted.count != before || !expired.isEmpty
    }

    /// Why a live sequence must end now, if it must.
    private func endingOutcome(of sequence: ActiveSequence, now: Duration) -> Outcome? {
        let job = sequence.job
        if job.state == .cancelled { return .cancelled }
        if job.isStopRequested { return .finished(.stop, stopToken: nil) }
        if let deadline = job.deadline, now >= deadline { return .failed(.deadlineExceeded) }
        return nil
    }

    /// Returns a sequence's blocks, tells the executor, and delivers the terminal event.
    /// The caller removes it from `running` / `preempted` (it is marked `hasEnded`).
    func endSequence(_ sequence: ActiveSequence, outcome: Outcome) {
        guard !sequence.hasEnded else { return }
        sequence.hasEnded = true
        pool.release(table: sequence.blockTable)
        sequence.blockTable = []
        executor.releaseSequence(sequence.job.id)
        deliverEnd(of: sequence.job, outcome: outcome, usage: sequence.usage())
    }

    /// Moves a job to its terminal state and emits the terminal event, exactly once. A job that
    /// was cancelled meanwhile gets `.done(.cancelled)` whatever `outcome` says.
    func deliverEnd(of job: Job, outcome: Outcome, usage: TokenUsage) {
        let event: JobEvent
        switch outcome {
        case let .finished(reason, stopToken) where job.markEnded(.finished(reason)):
            event = .done(JobCompletion(reason: reason, usage: usage, stopTokenID: stopToken))
            recorder.update { $0.jobsFinished += 1 }
        case let .failed(error) where job.markEnded(.failed(error)):
            event = .error(error)
            recorder.update { $0.jobsFailed += 1 }
        default:
            event = .done(JobCompletion(reason: .cancelled, usage: usage))
            recorder.update { $0.jobsCancelled += 1 }
        }
        recorder.observe(.endToEndLatency(seconds: (clock.now() - job.submittedAt).seconds))
        job.emit(event)
    }

    // MARK: 4–5. One batched executor call, then its results

    private func runBatch() {
        planBatch()
        defer {
            scheduledSequences.removeAll(keepingCapacity: true)
            scheduledCounts.removeAll(keepingCapacity: true)
        }
        guard !scheduledSequences.isEmpty else { return }
        batchesRun += 1
        let outputs: [ExecutorOutput]
        do {
            outputs = try callExecutor()
        } catch {
            let failure = ServeError.executorFailed(String(describing: error))
            for sequence in scheduledSequences { endSequence(sequence, outcome: .failed(failure)) }
            running.removeAll { $0.hasEnded }
            return
        }
        let now = clock.now()
        var tokensRun = 0, generated = 0
        for (slot, sequence) in scheduledSequences.enumerated() {
            let count = scheduledCounts[slot]
            tokensRun += count
            sequence.computedCount += count
            registerFullBlocks(of: sequence)
            registerPromptTail(of: sequence)
            guard sequence.computedCount == sequence.tokens.count else { continue }
            guard let output = output(for: sequence.job.id, in: outputs, near: generated) else {
                endSequence(
                    sequence,
                    outcome: .failed(
                        .executorFailed(
                            "the executor returned no token for sequence \(sequence.job.id)")))
                continue
            }
            generated += 1
            accept(output, for: sequence, now: now)
        }
        running.removeAll { $0.hasEnded }
        recorder.observe(.iteration(tokens: tokensRun, sequences: scheduledSequences.count))
        recorder.update { metrics in
            metrics.generatedTokens += generated
        }
        recorder.recordThroughput(generated: generated, at: now)
    }

    /// Decoding sequences take one token each; prefilling ones share the rest of the budget in
    /// admission order, so a long prompt spreads over iterations while the others keep streaming.
    private func planBatch() {
        scheduledSequences.removeAll(keepingCapacity: true)
        scheduledCounts.removeAll(keepingCapacity: true)
        var budget = settings.tokenBudgetPerIteration
        for sequence in running where sequence.pendingTokenCount == 1 && budget > 0 {
            scheduledSequences.append(sequence)
            scheduledCounts.append(1)
            budget -= 1
        }
        for sequence in running where sequence.pendingTokenCount > 1 && budget > 0 {
            let chunk = min(sequence.pendingTokenCount, budget)
            scheduledSequences.append(sequence)
            scheduledCounts.append(chunk)
            budget -= chunk
        }
    }

    /// Builds the batch in a scope of its own so that its references to the sequences' token
    /// arrays are gone before tokens are appended (no copy-on-write of whole contexts).
    private func callExecutor() throws -> [ExecutorOutput] {
        var entries: [ExecutorSequenceWork] = []
        entries.reserveCapacity(scheduledSequences.count)
        for (slot, sequence) in scheduledSequences.enumerated() {
            let start = sequence.computedCount, count = scheduledCounts[slot]
            entries.append(
                ExecutorSequenceWork(
                    sequenceID: sequence.job.id,
                    tokens: sequence.tokens[start..<start + count],
                    startPosition: start,
                    blockTable: sequence.blockTable,
                    samplesNextToken: start + count == sequence.tokens.count,
                    sampling: sequence.request.sampling,
                    contextTokens: sequence.tokens,
                    promptLength: sequence.promptLength))
        }
        return try executor.execute(
            ExecutorBatch(
                iteration: batchesRun, blockSize: pool.blockSize,
                sequences: entries))
    }

    /// Outputs usually come in batch order; fall back to a search when they do not.
    private func output(for id: SequenceID, in outputs: [ExecutorOutput], near guess: Int) -> ExecutorOutput? {
        if guess < outputs.count, outputs[guess].sequenceID == id { return outputs[guess] }
        return outputs.first { $0.sequenceID == id }
    }

    private func registerFullBlocks(of sequence: ActiveSequence) {
        guard var link = sequence.chain else { return }
        let blockSize = pool.blockSize
        let fullBlocks = min(sequence.computedCount / blockSize, sequence.blockTable.count)
        while sequence.registeredBlockCount < fullBlocks {
            let index = sequence.registeredBlockCount
            let tokens = sequence.tokens[index * blockSize..<(index + 1) * blockSize]
            guard let next = pool.registerFullBlock(sequence.blockTable[index], tokens: tokens, after: link) else {
                sequence.chain = nil  // collision: the rest of this sequence stays uncached
                return
            }
            link = next
            sequence.registeredBlockCount += 1
        }
        sequence.chain = link
    }

    /// Once the prompt is computed, offers its partial last block but the last token to the
    /// prefix cache, so that the next request with the same prompt copies it instead of
    /// recomputing it (see `KVBlockPool`, "Prompt tails").
    private func registerPromptTail(of sequence: ActiveSequence) {
        guard !sequence.promptTailConsidered, sequence.computedCount >= sequence.promptLength else { return }
        sequence.promptTailConsidered = true
        let blockSize = pool.blockSize
        let fullBlocks = sequence.promptLength / blockSize
        guard executor.copiesKVBlocks, sequence.promptLength % blockSize >= 2, let chain = sequence.chain,
            sequence.registeredBlockCount == fullBlocks, fullBlocks < sequence.blockTable.count
        else { return }
        pool.registerPromptTail(
            sequence.blockTable[fullBlocks],
            tokens: sequence.tokens[fullBlocks * blockSize..<sequence.promptLength - 1], after: chain)
    }

    /// Takes a sampled token: appends it, delivers it, and ends the sequence when it must.
    private func accept(_ output: ExecutorOutput, for sequence: ActiveSequence, now: Duration) {
        let job = sequence.job
        sequence.append(output.token)
        if sequence.generatedCount == 1 {
            recorder.observe(.timeToFirstToken(seconds: (now - job.submittedAt).seconds))
        } else if let last = sequence.lastTokenTime {
            recorder.observe(.interTokenLatency(seconds: (now - last).seconds))
        }
        sequence.lastTokenTime = now
        if job.state == .cancelled {
            endSequence(sequence, outcome: .cancelled)
            return
        }
        if sequence.request.stopTokenIDs.contains(output.token) {
            endSequence(sequence, outcome: .finished(.stop, stopToken: output.token))
            return
        }
        job.emit(
            .token(
                GeneratedToken(
                    id: output.token, index: sequence.generatedCount - 1,
                    logprobs: output.logprobs)))
        // The handler may have cancelled or stopped the job; honour that before anything else.
        if job.state == .cancelled {
            endSequence(sequence, outcome: .cancelled)
        } else if job.isStopRequested {
            endSequence(sequence, outcome: .finished(.stop, stopToken: nil))
        } else if sequence.generatedCount >= sequence.request.maxNewTokens {
            endSequence(sequence, outcome: .finished(.length, stopToken: nil))
        }
    }

    func publishGauges() {
        let runningCount = running.count, preemptedCount = preempted.count
        let used = pool.usedBlockCount, cached = pool.cachedBlockCount, free = pool.freeBlockCount
        let iterations = batchesRun
        let runningImageCount = runningImages.count, runningEmbeddingCount = runningEmbeddings.count
        recorder.update { metrics in
            metrics.runningImageJobs = runningImageCount
            metrics.runningEmbeddingJobs = runningEmbeddingCount
            metrics.runningSequences = runningCount
            metrics.preemptedSequences = preemptedCount
            metrics.kvBlocksUsed = used
            metrics.kvBlocksCached = cached
            metrics.kvBlocksFree = free
            metrics.iterations = iterations
        }
    }
}
