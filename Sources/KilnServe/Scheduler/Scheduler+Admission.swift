/// Phases 2 and 3 of an iteration: admitting waiting work into the KV pool, and finding blocks
/// for the next tokens, preempting when the pool runs dry. Runs with `iterationLock` held.
extension Scheduler {
    /// What admitting a sequence takes: cached blocks to reuse and how many fresh ones.
    struct AdmissionPlan {
        var match: KVBlockPool.PrefixMatch
        var freshBlocks: Int
        /// A registered prompt tail holding the tokens after the matched blocks but the last,
        /// to copy into the first fresh block (nil: those tokens are computed).
        var tailSource: KVBlockID?
        var tailCount = 0
    }

    // MARK: 2. Admission

    func admitWaitingWork(now: Duration) -> Bool {
        var pendingTokens = running.reduce(0) { $0 + $1.pendingTokenCount }
        var admittedAny = false
        while running.count < settings.maxBatchSequences,
            pendingTokens < settings.tokenBudgetPerIteration
        {
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
                guard
                    let job = queue.popFirst(
                        of: { $0.work.kind == .text },
                        if: { job in
                            guard case .text(let request) = job.work else { return false }
                            headPlan = admissionPlan(for: request.promptTokens)
                            return headPlan != nil
                        }), case .text(let request) = job.work, let newPlan = headPlan
                else { break }
                admittedAny = true
                recorder.observe(.queueTime(seconds: (now - job.submittedAt).seconds))
                guard job.markRunning() else {
                    // Cancelled between leaving the queue and now.
                    deliverEnd(of: job, outcome: .cancelled, usage: job.work.usageBeforeRunning)
                    continue
                }
                sequence = ActiveSequence(job: job, request: request)
                install(sequence, plan: newPlan)
                sequence.cachedPromptTokens = sequence.computedCount
                recorder.update { metrics in
                    metrics.promptTokens += sequence.promptLength
                    metrics.prefixCacheQueryTokens += sequence.promptLength
                    metrics.prefixCacheHitTokens += sequence.cachedPromptTokens
                }
                pendingTokens += sequence.pendingTokenCount
                continue
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
        var plan = AdmissionPlan(match: match, freshBlocks: freshBlocks)
        // The rest fits in one block: copy all of it but the last token if an earlier sequence
        // computed it (the last token runs, for the logits).
        let start = match.blocks.count * blockSize
        if executor.copiesKVBlocks, tokens.count - start >= 2, tokens.count - start <= blockSize {
            let tail = tokens[start..<tokens.count - 1]
            if let source = pool.cachedPromptTail(of: tail, after: match.chain) {
                plan.tailSource = source
                plan.tailCount = tail.count
            }
        }
        return plan
    }

    private func install(_ sequence: ActiveSequence, plan: AdmissionPlan) {
        // Retain the matches first: referenced blocks cannot be evicted by the allocations below.
        for block in plan.match.blocks { pool.retain(block) }
        sequence.blockTable = plan.match.blocks
        for _ in 0..<plan.freshBlocks {
            // The plan counted these blocks, and nothing ran in between.
            guard let block = pool.allocateBlock() else {
                preconditionFailure("admission plan promised \(plan.freshBlocks) blocks")
            }
            sequence.blockTable.append(block)
        }
        sequence.computedCount = plan.match.blocks.count * pool.blockSize
        if let source = plan.tailSource {
            // At once, before any other allocation can hand the source out: `allocateBlock`
            // may just have returned it as the fresh block itself, content intact.
            let destination = sequence.blockTable[plan.match.blocks.count]
            do {
                if source != destination { try executor.copyKVBlock(source, to: destination) }
                sequence.computedCount += plan.tailCount
            } catch {
                // Nothing copied: the tail is computed like any other.
            }
        }
        sequence.promptTailConsidered = false
        sequence.registeredBlockCount = plan.match.blocks.count
        sequence.chain = plan.match.chain
        sequence.admissionOrder = nextAdmissionOrder
        nextAdmissionOrder += 1
        running.append(sequence)
    }

    // MARK: 3. Blocks for the next tokens, preempting under pressure

    func reserveBlocksForNextTokens() {
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
        for index in 1..<running.count {
            let candidate = running[index], current = running[victim]
            let candidatePriority = candidate.request.priority
            let currentPriority = current.request.priority
            if candidatePriority < currentPriority
                || (candidatePriority == currentPriority && candidate.admissionOrder > current.admissionOrder)
            {
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
        let position =
            preempted.firstIndex { other in
                other.request.priority < sequence.request.priority
                    || (other.request.priority == sequence.request.priority && other.job.id > sequence.job.id)
            } ?? preempted.count
        preempted.insert(sequence, at: position)
        recorder.update { $0.preemptions += 1 }
    }
}
