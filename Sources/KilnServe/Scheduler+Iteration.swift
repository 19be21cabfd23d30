/// The five phases of one scheduler iteration (see `Scheduler`). Everything here runs with
/// `iterationLock` held, on the scheduler thread or a thread driving `runIteration()`.
extension Scheduler {
    /// How a sequence ends; `nil` where used means "it was cancelled".
    enum Outcome {
        case finished(FinishReason, stopToken: TokenID?)
        case failed(ServeError)
    }

    /// What admitting a sequence takes: cached blocks to reuse and how many fresh ones.
    struct AdmissionPlan {
        var match: KVBlockPool.PrefixMatch
        var freshBlocks: Int
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
        if !running.isEmpty {
            reserveBlocksForNextTokens()
        }
        if !running.isEmpty {
            runBatch()
            progressed = true
        }
        publishGauges()
        if progressed { return .progressed }
        return preempted.isEmpty && queue.count == 0 ? .idle : .stalled
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
            let usage = TokenUsage(promptTokens: job.request.promptTokens.count,
                                   cachedPromptTokens: 0, completionTokens: 0)
            deliverEnd(of: job, outcome: .failed(.deadlineExceeded), usage: usage)
        }
        return running.count + preempted.count != before || !expired.isEmpty
    }

    /// Why a live sequence must end now, if it must: `.some(nil)` for a cancellation.
    private func endingOutcome(of sequence: ActiveSequence, now: Duration) -> Outcome?? {
        let job = sequence.job
        if job.state == .cancelled { return .some(nil) }
        if job.isStopRequested { return .finished(.stop, stopToken: nil) }
        if let deadline = job.deadline, now >= deadline { return .failed(.deadlineExceeded) }
        return nil
    }

    /// Returns a sequence's blocks, tells the executor, and delivers the terminal event.
    /// The caller removes it from `running` / `preempted` (it is marked `hasEnded`).
    func endSequence(_ sequence: ActiveSequence, outcome: Outcome?) {
        guard !sequence.hasEnded else { return }
        sequence.hasEnded = true
        pool.release(table: sequence.blockTable)
        sequence.blockTable = []
        executor.releaseSequence(sequence.job.id)
        deliverEnd(of: sequence.job, outcome: outcome, usage: sequence.usage())
    }

    /// Moves a job to its terminal state and emits the terminal event, exactly once. A job that
    /// was cancelled meanwhile (or `outcome == nil`) gets `.done(.cancelled)` instead.
    func deliverEnd(of job: Job, outcome: Outcome?, usage: TokenUsage) {
        var event = JobEvent.done(JobCompletion(reason: .cancelled, usage: usage))
        var kind = 0 // 0 cancelled, 1 finished, 2 failed
        switch outcome {
        case let .finished(reason, stopToken)? where job.markEnded(.finished(reason)):
            event = .done(JobCompletion(reason: reason, usage: usage, stopTokenID: stopToken))
            kind = 1
        case let .failed(error)? where job.markEnded(.failed(error)):
            event = .error(error)
            kind = 2
        default:
            break
        }
        recorder.update { metrics in
            switch kind {
            case 1: metrics.jobsFinished += 1
            case 2: metrics.jobsFailed += 1
            default: metrics.jobsCancelled += 1
            }
        }
        recorder.observe(.endToEndLatency(seconds: (clock.now() - job.submittedAt).seconds))
        job.emit(event)
    }

    // MARK: 2. Admission

    private func admitWaitingWork(now: Duration) -> Bool {
        var pendingTokens = running.reduce(0) { $0 + $1.pendingTokenCount }
        var admittedAny = false
        while running.count < settings.maxBatchSequences,
              pendingTokens < settings.tokenBudgetPerIteration {
            let sequence: ActiveSequence
            let plan: AdmissionPlan
            if let resumed = preempted.first {
                // Preempted work goes first: its clients are already streaming.
                guard let resumePlan = admissionPlan(for: resumed.tokens) else { break }
                preempted.removeFirst()
                sequence = resumed
                plan = resumePlan
            } else {
                var headPlan: AdmissionPlan?
                guard let job = queue.popFirst(if: { job in
                    headPlan = admissionPlan(for: job.request.promptTokens)
                    return headPlan != nil
                }), let newPlan = headPlan else { break }
                admittedAny = true
                recorder.observe(.queueTime(seconds: (now - job.submittedAt).seconds))
                guard job.markRunning() else {
                    // Cancelled between leaving the queue and now.
                    let usage = TokenUsage(promptTokens: job.request.promptTokens.count,
                                           cachedPromptTokens: 0, completionTokens: 0)
                    deliverEnd(of: job, outcome: nil, usage: usage)
                    continue
                }
                sequence = ActiveSequence(job: job)
                plan = newPlan
                sequence.cachedPromptTokens = plan.match.blocks.count * pool.blockSize
                recorder.update { metrics in
                    metrics.promptTokens += sequence.promptLength
                    metrics.prefixCacheQueryTokens += sequence.promptLength
                    metrics.prefixCacheHitTokens += sequence.cachedPromptTokens
                }
            }
            install(sequence, plan: plan)
            pendingTokens += sequence.pendingTokenCount
            admittedAny = true
        }
        return admittedAny
    }

    /// Whether `tokens` can be admitted now, and how. Changes nothing.
    ///
    /// At most `(tokens.count - 1) / blockSize` blocks come from the cache, so at least the last
    /// token is always computed (the model must run to produce logits). When the whole context
    /// is cached we recompute its entire last block into a fresh block rather than just the last
    /// token: that way no sequence ever writes into a block that other sequences may share, and
    /// the duplicate is simply not registered. It costs at most `blockSize - 1` extra tokens.
    private func admissionPlan(for tokens: [TokenID]) -> AdmissionPlan? {
        let blockSize = pool.blockSize
        let match = pool.longestCachedPrefix(of: tokens, maxBlocks: (tokens.count - 1) / blockSize)
        let neededBlocks = (tokens.count + blockSize - 1) / blockSize
        let freshBlocks = neededBlocks - match.blocks.count
        // Matched blocks nobody references sit among the allocatable ones; reusing them takes
        // them out of that set.
        let idleMatches = match.blocks.reduce(0) { $0 + (pool.refCount(of: $1) == 0 ? 1 : 0) }
        let reserve = running.isEmpty ? 0 : settings.admissionReserveBlocks
        guard freshBlocks + reserve <= pool.allocatableBlockCount - idleMatches else { return nil }
        return AdmissionPlan(match: match, freshBlocks: freshBlocks)
    }

    private func install(_ sequence: ActiveSequence, plan: AdmissionPlan) {
        // Retain the matches first: referenced blocks cannot be evicted by the allocations below.
        for block in plan.match.blocks { pool.retain(block) }
        sequence.blockTable = plan.match.blocks
        for _ in 0 ..< plan.freshBlocks {
            // The plan counted these blocks, and nothing ran in between.
            guard let block = pool.allocateBlock() else {
                preconditionFailure("admission plan promised \(plan.freshBlocks) blocks")
            }
            sequence.blockTable.append(block)
        }
        sequence.computedCount = plan.match.blocks.count * pool.blockSize
        sequence.registeredBlockCount = plan.match.blocks.count
        sequence.chain = plan.match.chain
        sequence.admissionOrder = nextAdmissionOrder
        nextAdmissionOrder += 1
        running.append(sequence)
    }

    // MARK: 3. Blocks for the next tokens, preempting under pressure

    private func reserveBlocksForNextTokens() {
        let blockSize = pool.blockSize
        var index = 0
        while index < running.count {
            let sequence = running[index]
            let needed = (sequence.tokens.count + blockSize - 1) / blockSize
            var preemptedItself = false
            while sequence.blockTable.count < needed {
                if let block = pool.allocateBlock() {
                    sequence.blockTable.append(block)
                    continue
                }
                let victimIndex = preemptionVictimIndex()
                let victim = running[victimIndex]
                preempt(at: victimIndex)
                if victim === sequence {
                    preemptedItself = true
                    break
                }
                if victimIndex < index { index -= 1 }
            }
            if !preemptedItself { index += 1 }
        }
    }

    /// The running sequence to sacrifice: lowest priority, then the most recently admitted.
    private func preemptionVictimIndex() -> Int {
        var victim = 0
        for index in 1 ..< running.count {
            let candidate = running[index], current = running[victim]
            let candidatePriority = candidate.job.request.priority
            let currentPriority = current.job.request.priority
            if candidatePriority < currentPriority
                || (candidatePriority == currentPriority && candidate.admissionOrder > current.admissionOrder) {
                victim = index
            }
        }
        return victim
    }

    /// Frees all of a sequence's blocks and parks it for recomputation from its tokens. Its full
    /// blocks stay in the prefix cache, so resuming is cheap unless they get evicted meanwhile.
    private func preempt(at index: Int) {
        let sequence = running.remove(at: index)
        pool.release(table: sequence.blockTable)
        sequence.blockTable = []
        sequence.computedCount = 0
        sequence.registeredBlockCount = 0
        sequence.chain = pool.rootChain
        // Resume order: priority, then arrival.
        let position = preempted.firstIndex { other in
            other.job.request.priority < sequence.job.request.priority
                || (other.job.request.priority == sequence.job.request.priority && other.job.id > sequence.job.id)
        } ?? preempted.count
        preempted.insert(sequence, at: position)
        recorder.update { $0.preemptions += 1 }
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
            guard sequence.computedCount == sequence.tokens.count else { continue }
            guard let output = output(for: sequence.job.id, in: outputs, near: generated) else {
                endSequence(sequence, outcome: .failed(.executorFailed(
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
            entries.append(ExecutorSequenceWork(
                sequenceID: sequence.job.id,
                tokens: sequence.tokens[start ..< start + count],
                startPosition: start,
                blockTable: sequence.blockTable,
                samplesNextToken: start + count == sequence.tokens.count,
                sampling: sequence.job.request.sampling,
                contextTokens: sequence.tokens,
                promptLength: sequence.promptLength))
        }
        return try executor.execute(ExecutorBatch(iteration: batchesRun, blockSize: pool.blockSize,
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
            let tokens = sequence.tokens[index * blockSize ..< (index + 1) * blockSize]
            guard let next = pool.registerFullBlock(sequence.blockTable[index], tokens: tokens, after: link) else {
                sequence.chain = nil // collision: the rest of this sequence stays uncached
                return
            }
            link = next
            sequence.registeredBlockCount += 1
        }
        sequence.chain = link
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
            endSequence(sequence, outcome: nil)
            return
        }
        if job.request.stopTokenIDs.contains(output.token) {
            endSequence(sequence, outcome: .finished(.stop, stopToken: output.token))
            return
        }
        job.emit(.token(GeneratedToken(id: output.token, index: sequence.generatedCount - 1,
                                       logprobs: output.logprobs)))
        // The handler may have cancelled or stopped the job; honour that before anything else.
        if job.state == .cancelled {
            endSequence(sequence, outcome: nil)
        } else if job.isStopRequested {
            endSequence(sequence, outcome: .finished(.stop, stopToken: nil))
        } else if sequence.generatedCount >= job.request.maxNewTokens {
            endSequence(sequence, outcome: .finished(.length, stopToken: nil))
        }
    }

    func publishGauges() {
        let runningCount = running.count, preemptedCount = preempted.count
        let used = pool.usedBlockCount, cached = pool.cachedBlockCount, free = pool.freeBlockCount
        let iterations = batchesRun
        recorder.update { metrics in
            metrics.runningSequences = runningCount
            metrics.preemptedSequences = preemptedCount
            metrics.kvBlocksUsed = used
            metrics.kvBlocksCached = cached
            metrics.kvBlocksFree = free
            metrics.iterations = iterations
        }
    }
}
