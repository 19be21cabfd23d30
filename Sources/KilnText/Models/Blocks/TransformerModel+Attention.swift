import KilnTensor

/// The attention block: Q, K, V projections of the normalized rows (`scratch.normalized`), the
/// optional projection biases and per-head query/key norms, RoPE (the sliding-window layers' own
/// where the architecture has one), the keys and values stored in the paged cache, causal
/// attention (within the window on sliding-window layers) and the output projection.
extension TransformerModel {
    /// Attends every token of `batch` at `layer` and writes `Wo · attention` ([tokens × width])
    /// to `output`.
    func attention(
        _ layer: Int, weights: LayerWeights, batch: ForwardBatch, cache: PagedKVCache,
        output: UnsafeMutablePointer<Float>
    ) {
        let c = configuration
        let s = scratch
        let tokens = batch.tokenCount
        multiply(attentionInputTargets[layer], input: s.normalized, rows: tokens)
        let sliding = c.isSlidingWindow(layer: layer)
        prepareKeysAndQueries(layer: layer, weights: weights, batch: batch, cache: cache, localRope: sliding)
        let window = sliding ? c.slidingWindow : 0
        let scale: Float = c.scalesQueries ? 1 : c.attentionScale
        if kernelPath == .automatic && cache.elementType == .f16
            && c.headDimension <= LlamaCompatibleAttention.maximumHeadDimension
        {
            LlamaCompatibleAttention.attend(
                layer: layer, batch: batch, cache: cache, headCount: c.headCount, queries: s.query,
                output: s.attention, scale: scale, window: window, pool: pool, splitCount: pool.threadCount,
                selection: options.attentionSelection)
        } else {
            PagedAttention.attend(
                layer: layer, batch: batch, cache: cache, headCount: c.headCount, queries: s.query,
                output: s.attention, scale: scale, window: window, pool: pool)
        }
        multiply(weights.attentionOutput, input: s.attention, rows: tokens, output: output)
    }

    /// Adds the projection biases (Qwen2), normalizes each query and key head (Gemma 3), rotates
    /// queries and keys, scales the queries when the architecture does so before attention, and
    /// stores each token's key and value in its sequence's block at its position.
    func prepareKeysAndQueries(
        layer: Int, weights layerWeights: LayerWeights, batch: ForwardBatch,
        cache: PagedKVCache, localRope: Bool
    ) {
        let c = configuration
        let s = scratch
        let half = c.ropeDimensionCount / 2
        let headDimension = c.headDimension
        let queryWidth = c.queryWidth, keyValueWidth = c.keyValueWidth
        let blockSize = cache.blockSize
        let rope = localRope ? (self.localRope ?? self.rope) : self.rope
        let cosineTable = localRope && self.localRope != nil ? s.localRopeCosines : s.ropeCosines
        let sineTable = localRope && self.localRope != nil ? s.localRopeSines : s.ropeSines
        let queryScale: Float? = c.scalesQueries ? c.attentionScale : nil
        forEachRow(batch.tokenCount) { rows in
            for token in rows {
                let query = s.query + token * queryWidth
                let key = s.key + token * keyValueWidth
                let value = s.value + token * keyValueWidth
                if let bias = layerWeights.queryBias { Self.add(bias, to: query) }
                if let bias = layerWeights.keyBias { Self.add(bias, to: key) }
                if let bias = layerWeights.valueBias { Self.add(bias, to: value) }
                if let gain = layerWeights.queryNorm { normalizeHeads(query, heads: c.headCount, gain: gain) }
                if let gain = layerWeights.keyNorm { normalizeHeads(key, heads: c.kvHeadCount, gain: gain) }
                let cosines = cosineTable + token * half, sines = sineTable + token * half
                rope.rotate(query, heads: c.headCount, headDimension: headDimension, cos: cosines, sin: sines)
                rope.rotate(key, heads: c.kvHeadCount, headDimension: headDimension, cos: cosines, sin: sines)
                if let queryScale { Elementwise.scale(query, count: queryWidth, by: queryScale) }
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

    /// RMSNorm of each of `heads` heads of `vector` in place, times `gain` ([headDimension]).
    private func normalizeHeads(_ vector: UnsafeMutablePointer<Float>, heads: Int, gain: [Float]) {
        gain.withUnsafeBufferPointer { gain in
            Normalization.rms(
                vector, weight: gain.baseAddress!, count: configuration.headDimension, rows: heads,
                epsilon: configuration.rmsNormEpsilon, output: vector)
        }
    }

    private static func add(_ bias: [Float], to vector: UnsafeMutablePointer<Float>) {
        bias.withUnsafeBufferPointer { bias in
            for index in 0..<bias.count { vector[index] += bias[index] }
        }
    }
}
