import KilnTensor

/// The row-wise steps of the forward pass. Each works token by token, so that a token's result
/// never depends on the other rows; large batches are spread over the worker pool.
extension TransformerModel {
    /// Runs `body` over `0 ..< count` rows, on the pool when there are enough of them.
    @inline(__always)
    func forEachRow(_ count: Int, _ body: (Range<Int>) -> Void) {
        if count < 4 {
            body(0..<count)
        } else {
            pool.parallelFor(count, grain: max(1, count / (pool.threadCount * 4)), body)
        }
    }

    /// hidden[t] = embedding row of token t.
    func embed(_ batch: ForwardBatch) {
        let width = configuration.embeddingLength
        let table = weights.tokenEmbedding
        let hidden = scratch.hidden
        forEachRow(batch.tokenCount) { rows in
            for token in rows {
                // Ids were checked by `validate`.
                Dequantization.dequantize(
                    table.type, from: table.row(Int(batch.tokens[token])), count: width,
                    into: hidden + token * width)
            }
        }
    }

    /// The RoPE cosines and sines of every token's position, shared by all layers.
    func computeRotaryAngles(_ batch: ForwardBatch) {
        let half = configuration.ropeDimensionCount / 2
        let cosines = scratch.ropeCosines, sines = scratch.ropeSines
        for token in 0..<batch.tokenCount {
            rope.angles(position: Int(batch.tokenPositions[token]), cos: cosines + token * half, sin: sines + token * half)
        }
    }

    /// output[t] = RMSNorm(input[t]) ⊙ gain, for `count` rows of the model width.
    func normalizeRows(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, count: Int,
        gain: [Float]
    ) {
        let width = configuration.embeddingLength
        let epsilon = configuration.rmsNormEpsilon
        gain.withUnsafeBufferPointer { gain in
            forEachRow(count) { rows in
                Normalization.rms(
                    input + rows.lowerBound * width, weight: gain.baseAddress!, count: width,
                    rows: rows.count, epsilon: epsilon, output: output + rows.lowerBound * width)
            }
        }
    }

    /// Adds the projection biases (Qwen2), rotates queries and keys, and stores each token's key
    /// and value in its sequence's block at its position.
    func prepareKeysAndQueries(
        layer: Int, weights layerWeights: LayerWeights, batch: ForwardBatch,
        cache: PagedKVCache
    ) {
        let c = configuration
        let s = scratch
        let half = c.ropeDimensionCount / 2
        let headDimension = c.headDimension
        let queryWidth = c.queryWidth, keyValueWidth = c.keyValueWidth
        let blockSize = cache.blockSize
        forEachRow(batch.tokenCount) { rows in
            for token in rows {
                let query = s.query + token * queryWidth
                let key = s.key + token * keyValueWidth
                let value = s.value + token * keyValueWidth
                if let bias = layerWeights.queryBias { Self.add(bias, to: query) }
                if let bias = layerWeights.keyBias { Self.add(bias, to: key) }
                if let bias = layerWeights.valueBias { Self.add(bias, to: value) }
                let cosines = s.ropeCosines + token * half, sines = s.ropeSines + token * half
                rope.rotate(query, heads: c.headCount, headDimension: headDimension, cos: cosines, sin: sines)
                rope.rotate(key, heads: c.kvHeadCount, headDimension: headDimension, cos: cosines, sin: sines)
                let sequence = Int(batch.tokenSequences[token])
                let position = Int(batch.tokenPositions[token])
                let block = Int(batch.blockTables[sequence * batch.maximumBlocksPerSequence + position / blockSize])
                let slot = position % blockSize
                for kvHead in 0..<c.kvHeadCount {
                    cache.store(
                        key + kvHead * headDimension, at: cache.keys(layer: layer, block: block, kvHead: kvHead),
                        slot: slot)
                    cache.store(
                        value + kvHead * headDimension,
                        at: cache.values(layer: layer, block: block, kvHead: kvHead), slot: slot)
                }
            }
        }
    }

    private static func add(_ bias: [Float], to vector: UnsafeMutablePointer<Float>) {
        bias.withUnsafeBufferPointer { bias in
            for index in 0..<bias.count { vector[index] += bias[index] }
        }
    }

    /// target[i] += addend[i] over `count` floats (the residual connection).
    func addRows(_ addend: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        Elementwise.add(target, addend, count: count, into: target)
    }

    /// gate[t] = SiLU(gate[t]) ⊙ up[t] for `count` rows of the feed-forward width.
    func gateRows(count: Int) {
        let width = configuration.feedForwardLength
        let gate = scratch.gate, up = scratch.up
        forEachRow(count) { rows in
            let offset = rows.lowerBound * width
            Elementwise.swiglu(gate: gate + offset, up: up + offset, count: rows.count * width, into: gate + offset)
        }
    }

    /// Normalizes the final hidden state of every token that produces logits into consecutive
    /// rows of `logitInput`, in the batch's logit-row order. Returns the row count.
    func gatherLogitInputs(_ batch: ForwardBatch) -> Int {
        var rows = 0
        for sequence in 0..<batch.sequenceCount {
            let tokens = batch.tokenRange(ofSequence: sequence)
            switch batch.sequenceSelections[sequence] {
            case .none: continue
            case .last:
                scratch.logitSourceTokens[rows] = Int32(tokens.upperBound - 1)
                rows += 1
            case .all:
                for token in tokens {
                    scratch.logitSourceTokens[rows] = Int32(token)
                    rows += 1
                }
            }
        }
        let width = configuration.embeddingLength
        let epsilon = configuration.rmsNormEpsilon
        let s = scratch
        weights.outputNorm.withUnsafeBufferPointer { gain in
            forEachRow(rows) { range in
                for row in range {
                    Normalization.rms(
                        s.hidden + Int(s.logitSourceTokens[row]) * width, weight: gain.baseAddress!,
                        count: width, epsilon: epsilon, output: s.logitInput + row * width)
                }
            }
        }
        return rows
    }
}
