/// Scratch memory for sampling, sized to the vocabulary once and reused for every token, so
/// that sampling allocates nothing per token. One workspace serves any number of sequences, but
/// only one call at a time: give each thread that samples its own workspace.
///
/// The live candidates are kept as parallel arrays (structure of arrays) so that the loops over
/// the whole vocabulary vectorize: slot i holds token `ids[i]` with adjusted logit `logits[i]`,
/// its unnormalised weight `weights[i]` = exp((logit − max) / T) once computed, and a secondary
/// `keys[i]` for filters that rank by something else (typical-p's distance to the entropy).
public final class SamplingWorkspace {
    /// The vocabulary size every logit vector must have.
    public let vocabularySize: Int
    let ids: UnsafeMutablePointer<Int32>
    let logits: UnsafeMutablePointer<Float>
    let weights: UnsafeMutablePointer<Float>
    let keys: UnsafeMutablePointer<Float>
    /// How many slots, from 0, are live.
    var candidateCount = 0
    /// True when the live candidates are in `ranksBefore` order.
    var candidatesAreSorted = false
    /// Per-token occurrence counts for penalties; all zero between calls.
    let occurrenceCounts: UnsafeMutablePointer<Int32>
    /// Ids whose occurrence count is non-zero, so that clearing touches only them.
    let countedTokens: UnsafeMutablePointer<Int32>

    public init(vocabularySize: Int) {
        precondition(vocabularySize > 0, "a vocabulary has at least one token")
        self.vocabularySize = vocabularySize
        ids = .allocate(capacity: vocabularySize)
        logits = .allocate(capacity: vocabularySize)
        weights = .allocate(capacity: vocabularySize)
        keys = .allocate(capacity: vocabularySize)
        occurrenceCounts = .allocate(capacity: vocabularySize)
        occurrenceCounts.initialize(repeating: 0, count: vocabularySize)
        countedTokens = .allocate(capacity: vocabularySize)
    }

    deinit {
        for pointer in [ids, occurrenceCounts, countedTokens] { pointer.deallocate() }
        for pointer in [logits, weights, keys] { pointer.deallocate() }
    }

    /// Makes every token live with its logit; NaN logits become −∞ so that they can never be
    /// chosen and never poison the ordering.
    func loadCandidates(from source: UnsafeBufferPointer<Float>) {
        let logits = self.logits, ids = self.ids
        for index in 0..<vocabularySize {
            let logit = source[index]
            logits[index] = logit.isNaN ? -.infinity : logit
        }
        for index in 0..<vocabularySize { ids[index] = Int32(truncatingIfNeeded: index) }
        candidateCount = vocabularySize
        candidatesAreSorted = false
    }

    /// Keeps only the live candidates whose token bit is set in `allowed`, in their order.
    func keepAllowed(_ allowed: UnsafeBufferPointer<UInt64>) {
        var kept = 0
        for slot in 0..<candidateCount {
            let token = Int(ids[slot])
            guard allowed[token >> 6] & (1 << UInt64(token & 63)) != 0 else { continue }
            if kept != slot {
                ids[kept] = ids[slot]
                logits[kept] = logits[slot]
            }
            kept += 1
        }
        candidateCount = kept
    }

    /// The total order the sampler uses between slots: higher logit first, lower token id on
    /// ties. The tie rule makes every result independent of how the candidates were arranged.
    @inline(__always)
    func ranksBefore(_ a: Int, _ b: Int) -> Bool {
        logits[a] > logits[b] || (logits[a] == logits[b] && ids[a] < ids[b])
    }

    @inline(__always)
    func swapSlots(_ a: Int, _ b: Int) {
        swap(&ids[a], &ids[b])
        swap(&logits[a], &logits[b])
        swap(&weights[a], &weights[b])
        swap(&keys[a], &keys[b])
    }

    /// The highest logit among the live candidates.
    func maximumLogit() -> Float {
        let logits = self.logits
        var best = -Float.infinity
        for index in 0..<candidateCount { best = max(best, logits[index]) }
        return best
    }

    /// Sets every live candidate's weight to exp((logit − maximum) · inverseTemperature) and
    /// returns their sum in double precision, added in a fixed order (four interleaved partial
    /// sums combined at the end), so that the result is the same on every machine.
    func computeWeights(maximum: Float, inverseTemperature: Float) -> Double {
        let count = candidateCount
        let logits = self.logits, weights = self.weights
        for index in 0..<count {
            weights[index] = portableUnitExponential((logits[index] - maximum) * inverseTemperature)
        }
        var partial = (0.0, 0.0, 0.0, 0.0)
        var index = 0
        while index + 4 <= count {
            partial.0 += Double(weights[index])
            partial.1 += Double(weights[index + 1])
            partial.2 += Double(weights[index + 2])
            partial.3 += Double(weights[index + 3])
            index += 4
        }
        while index < count {
            partial.0 += Double(weights[index])
            index += 1
        }
        return (partial.0 + partial.1) + (partial.2 + partial.3)
    }

    /// Moves the `count` best candidates (by `ranksBefore`) to the front, sorted, and makes
    /// them the live set. Uses a bounded heap: O(n log count), in place, no allocation.
    func keepBest(_ count: Int) {
        let keep = min(count, candidateCount)
        guard keep > 0 else {
            candidateCount = 0
            return
        }
        if !candidatesAreSorted {
            let worstFirst: (Int, Int) -> Bool = { a, b in self.ranksBefore(b, a) }
            // The front `keep` slots become a heap whose root is the worst of them.
            buildHeap(range: 0..<keep, before: worstFirst)
            for index in keep..<candidateCount where ranksBefore(index, 0) {
                swapSlots(0, index)
                siftDown(from: 0, range: 0..<keep, before: worstFirst)
            }
            sortHeap(range: 0..<keep, before: worstFirst)
        }
        candidateCount = keep
        candidatesAreSorted = true
    }

    /// Makes the live set the shortest prefix, in the total order `before`, of the live
    /// candidates whose weights add up to at least `goal`.
    ///
    /// A quickselect on mass rather than a sort: partition around a median-of-three pivot, keep
    /// the side that holds the boundary, and sort only the last ≤ 64 candidates; expected O(n).
    /// The kept candidates end up in an order fixed by the algorithm, not by rank.
    func keepShortestPrefix(reaching goal: Double, by before: (Int, Int) -> Bool) {
        var lower = 0
        var upper = candidateCount
        var massBelowLower = 0.0
        while upper - lower > 64 {
            let pivotIndex = medianOfThree(lower, lower + (upper - lower) / 2, upper - 1, before)
            swapSlots(pivotIndex, upper - 1)
            let pivot = upper - 1
            var store = lower
            var massBeforePivot = 0.0
            for index in lower..<pivot where before(index, pivot) {
                swapSlots(index, store)
                massBeforePivot += Double(weights[store])
                store += 1
            }
            swapSlots(store, pivot)
            if massBelowLower + massBeforePivot >= goal {
                upper = store
            } else if massBelowLower + massBeforePivot + Double(weights[store]) >= goal {
                finishPrefix(count: store + 1)
                return
            } else {
                massBelowLower += massBeforePivot + Double(weights[store])
                lower = store + 1
            }
        }
        sortSlots(lower..<upper, by: before)
        var cumulative = massBelowLower
        for index in lower..<upper {
            cumulative += Double(weights[index])
            if cumulative >= goal {
                finishPrefix(count: index + 1)
                return
            }
        }
        // Only rounding can leave the goal unreached; everything up to `upper` stays.
        finishPrefix(count: max(upper, 1))
    }

    private func finishPrefix(count: Int) {
        candidateCount = count
        candidatesAreSorted = false
    }

    private func medianOfThree(_ a: Int, _ b: Int, _ c: Int, _ before: (Int, Int) -> Bool) -> Int {
        if before(a, b) {
            if before(b, c) { return b }
            return before(a, c) ? c : a
        }
        if before(a, c) { return a }
        return before(b, c) ? c : b
    }

    /// Sorts the slots in `range` so that `before(a, b)` holds for every earlier a.
    /// Heap sort: no allocation, O(n log n).
    func sortSlots(_ range: Range<Int>, by before: (Int, Int) -> Bool) {
        let reversed: (Int, Int) -> Bool = { a, b in before(b, a) }
        buildHeap(range: range, before: reversed)
        sortHeap(range: range, before: reversed)
    }

    /// Arranges the slots in `range` as a heap whose root r satisfies `before(r, x)` for all x.
    private func buildHeap(range: Range<Int>, before: (Int, Int) -> Bool) {
        var start = range.count / 2
        while start > 0 {
            start -= 1
            siftDown(from: start, range: range, before: before)
        }
    }

    /// Turns a heap built with `before` into a sequence ordered by the reverse of `before`.
    private func sortHeap(range: Range<Int>, before: (Int, Int) -> Bool) {
        var end = range.count
        while end > 1 {
            end -= 1
            swapSlots(range.lowerBound, range.lowerBound + end)
            siftDown(from: 0, range: range.lowerBound..<(range.lowerBound + end), before: before)
        }
    }

    /// Restores the heap property below relative position `start` of `range`.
    @inline(__always)
    private func siftDown(from start: Int, range: Range<Int>, before: (Int, Int) -> Bool) {
        let base = range.lowerBound
        let count = range.count
        var parent = start
        while true {
            let left = 2 * parent + 1
            if left >= count { return }
            var child = left
            if left + 1 < count, before(base + left + 1, base + left) { child = left + 1 }
            if !before(base + child, base + parent) { return }
            swapSlots(base + parent, base + child)
            parent = child
        }
    }
}
