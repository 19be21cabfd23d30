import Foundation
import KilnText
import Testing

/// Batch invariance on the real model: a sequence's logits are bit-identical whether it runs
/// alone or with others, whatever the others are doing (prefill or decode), however its prompt
/// is chunked, and whether its prefix blocks were computed by itself or shared.
///
/// Chunking: the default path follows llama.cpp's attention, whose arithmetic depends on the shape
/// of a sequence's own step (64+ tokens: tiled; one token at 256+ positions: split key range), so
/// chunk-independence holds where those bodies coincide: chunks under 64 tokens, positions under
/// 256 (the prompts here), and everywhere with `AttentionSelection.positionOnly`, the server's
/// choice. Other sequences in the batch never matter.
@Suite struct ModelBatchingTests {
    static let prompts: [[Int32]] = ModelFixtures.reference.greedy.prefix(4).map(\.prompt_ids)

    /// Copies one row of logits out of the model's buffer.
    static func copy(_ logits: ForwardLogits, row: Int) -> [Float] { Array(logits.row(row)) }

    /// Greedy continuation of one prompt, alone in its own cache: the logits of every step.
    static func runAlone(_ model: TransformerModel, prompt: [Int32], steps: Int) throws -> [[Float]] {
        let runner = try SequenceRunner(model: model, capacity: prompt.count + steps + 1)
        var logits = Array(try runner.feed(prompt))
        var result = [logits]
        for _ in 0..<steps {
            logits = Array(try runner.feed([ModelFixtures.top(logits.withUnsafeBufferPointer { $0 }).token]))
            result.append(logits)
        }
        return result
    }

    @Test func decodingBatchedWithOthersGivesBitIdenticalLogits() throws {
        let model = try ModelFixtures.loadModel()
        let steps = 4
        let alone = try Self.prompts.map { try Self.runAlone(model, prompt: $0, steps: steps) }

        // One shared pool; block tables deliberately out of order and interleaved.
        let cache = try model.makeKVCache(blockCount: 32, blockSize: 16)
        let batch = try model.makeBatch(cache: cache, maximumSequenceCount: 8)
        let tables: [[Int32]] = [[5, 0, 9], [1, 30, 2], [17, 4, 3], [8, 21, 6]]
        var lengths = [Int](repeating: 0, count: Self.prompts.count)
        var lastTokens = [Int32](repeating: 0, count: Self.prompts.count)
        var produced = [[[Float]]](repeating: [], count: Self.prompts.count)

        // Step 0: sequences 0 and 1 prefill together. Sequences 2 and 3 join later, so that
        // some steps mix a prefill with decodes.
        func run(prefill: [Int], decode: [Int]) throws {
            batch.removeAll()
            var rows: [(sequence: Int, index: Int)] = []
            for sequence in decode {
                let index = try batch.append(
                    tokens: [lastTokens[sequence]], startPosition: lengths[sequence],
                    blockTable: tables[sequence])
                rows.append((sequence, index))
            }
            for sequence in prefill {
                let index = try batch.append(
                    tokens: Self.prompts[sequence], startPosition: 0,
                    blockTable: tables[sequence])
                rows.append((sequence, index))
            }
            let logits = try model.forward(batch, cache: cache)
            for (sequence, index) in rows {
                let row = Self.copy(logits, row: batch.logitRows(ofSequence: index).lowerBound)
                produced[sequence].append(row)
                lengths[sequence] += decode.contains(sequence) ? 1 : Self.prompts[sequence].count
                lastTokens[sequence] = ModelFixtures.top(row.withUnsafeBufferPointer { $0 }).token
            }
        }
        try run(prefill: [0, 1], decode: [])
        try run(prefill: [2], decode: [0, 1])
        try run(prefill: [3], decode: [0, 1, 2])
        while produced.contains(where: { $0.count <= steps }) {
            try run(prefill: [], decode: produced.indices.filter { produced[$0].count <= steps })
        }
        for sequence in Self.prompts.indices {
            for step in 0...steps {
                #expect(produced[sequence][step] == alone[sequence][step], "sequence \(sequence) step \(step)")
            }
        }
    }

    @Test func chunkedPrefillEqualsWholePrefillAndTokenByTokenDecoding() throws {
        let model = try ModelFixtures.loadModel()
        let prompt = ModelFixtures.reference.greedy[3].prompt_ids  // 38 tokens, 3 blocks
        let whole = Array(try SequenceRunner(model: model, capacity: 64).feed(prompt))

        let chunked = try SequenceRunner(model: model, capacity: 64)
        _ = try chunked.feed(prompt[0..<7])
        _ = try chunked.feed(prompt[7..<23])
        let chunkedLogits = Array(try chunked.feed(prompt[23...]))
        #expect(chunkedLogits == whole)

        let single = try SequenceRunner(model: model, capacity: 64)
        var last: [Float] = []
        for token in prompt { last = Array(try single.feed([token])) }
        #expect(last == whole)
    }

    /// With position-only attention selection (the server's), chunking changes nothing even where
    /// llama.cpp's bodies differ: chunks of 64+ tokens and positions past 256, where the key range
    /// is split.
    @Test func positionOnlySelectionMakesLongPromptsChunkIndependent() throws {
        var options = ModelOptions(threadCount: 2, activationPrecision: ModelFixtures.precision)
        options.attentionSelection = .positionOnly
        let model = try ModelFixtures.loadModel(options)
        let reference = ModelFixtures.reference.greedy
        let prompt = Array((reference[5].prompt_ids + reference[0].prompt_ids).prefix(300))
        #expect(prompt.count == 300)
        let whole = Array(try SequenceRunner(model: model, capacity: 320).feed(prompt))

        let chunked = try SequenceRunner(model: model, capacity: 320)
        _ = try chunked.feed(prompt[0..<100])
        _ = try chunked.feed(prompt[100..<263])
        _ = try chunked.feed(prompt[263..<270])
        let chunkedLogits = Array(try chunked.feed(prompt[270...]))
        // Compared to a Bool first: a failing #expect on two 49 152-float arrays prints them both.
        let chunkedMatches = chunkedLogits == whole
        #expect(chunkedMatches, "chunks of 100, 163, 7 and 30 tokens")

        let tail = try SequenceRunner(model: model, capacity: 320)
        _ = try tail.feed(prompt[0..<250])
        var last: [Float] = []
        for token in prompt[250...] { last = Array(try tail.feed([token])) }
        let tokenByTokenMatches = last == whole
        #expect(tokenByTokenMatches, "the last 50 tokens one at a time")
    }

    @Test func sharedPrefixBlocksGiveTheSameLogitsAsRecomputing() throws {
        let model = try ModelFixtures.loadModel()
        let shared = Array(ModelFixtures.reference.greedy[3].prompt_ids.prefix(32))  // two full blocks
        let first = shared + [504, 3575, 282]
        let second = shared + [1348, 2068]
        let expected = Array(try SequenceRunner(model: model, capacity: 64).feed(second))

        let cache = try model.makeKVCache(blockCount: 8, blockSize: 16)
        let batch = try model.makeBatch(cache: cache)
        try batch.append(tokens: first, startPosition: 0, blockTable: [3, 6, 1])
        _ = try model.forward(batch, cache: cache)
        // The second sequence reuses blocks 3 and 6 and computes only its own tail in block 2.
        batch.removeAll()
        try batch.append(tokens: second[32...], startPosition: 32, blockTable: [3, 6, 2])
        let logits = try model.forward(batch, cache: cache)
        #expect(Self.copy(logits, row: 0) == expected)

        // Copy-on-write: a copied block serves as well as the original.
        try cache.copyBlock(6, to: 7)
        batch.removeAll()
        try batch.append(tokens: second[32...], startPosition: 32, blockTable: [3, 7, 4])
        #expect(Self.copy(try model.forward(batch, cache: cache), row: 0) == expected)
    }

    @Test func allLogitsRowsMatchLastTokenLogitsOfPrefixes() throws {
        let model = try ModelFixtures.loadModel()
        let prompt = ModelFixtures.reference.greedy[0].prompt_ids
        let runner = try SequenceRunner(model: model, capacity: 16)
        let all = try runner.feedReturningAllLogits(prompt)
        #expect(all.rowCount == prompt.count)
        let rows = (0..<all.rowCount).map { Self.copy(all, row: $0) }
        for length in 1...prompt.count {
            let alone = Array(try SequenceRunner(model: model, capacity: 16).feed(prompt.prefix(length)))
            #expect(rows[length - 1] == alone, "prefix of \(length)")
        }
    }

    /// The scheduler's compute sharing lowers the pool's thread budget while an image runs: the
    /// kernels' parts stay the same (sized by the pool's threads), so the logits may not change.
    @Test func aThreadBudgetLeavesTheLogitsBitIdentical() throws {
        let model = try ModelFixtures.loadModel()
        let prompt = Self.prompts[0]
        let whole = try Self.runAlone(model, prompt: prompt, steps: 3)
        model.pool.threadBudget = 1
        defer { model.pool.threadBudget = model.pool.threadCount }
        let budgeted = try Self.runAlone(model, prompt: prompt, steps: 3)
        #expect(model.pool.threadBudget == 1 && model.pool.threadCount == 2)
        #expect(budgeted == whole)
    }
}
