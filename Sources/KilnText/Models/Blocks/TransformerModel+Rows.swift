import KilnTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The row-wise blocks of the forward pass: embedding, norms, residual additions and the output
/// head's inputs. Each works token by token, so that a token's result never depends on the other
/// rows; large batches are spread over the worker pool.
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

    /// hidden[t] = embedding row of token t, times `embeddingScale` when it is not 1.
    func embed(_ batch: ForwardBatch) {
        let width = configuration.embeddingLength
        let scale = configuration.embeddingScale
        let table = weights.tokenEmbedding
        let hidden = scratch.hidden
        forEachRow(batch.tokenCount) { rows in
            for token in rows {
                // Ids were checked by `validate`.
                let row = hidden + token * width
                Dequantization.dequantize(table.type, from: table.row(Int(batch.tokens[token])), count: width, into: row)
                if scale != 1 { Elementwise.scale(row, count: width, by: scale) }
            }
        }
    }

    /// The RoPE cosines and sines of every token's position, shared by all layers (and those of
    /// the sliding-window layers' RoPE where it differs).
    func computeRotaryAngles(_ batch: ForwardBatch) {
        let half = configuration.ropeDimensionCount / 2
        let s = scratch
        for token in 0..<batch.tokenCount {
            let position = Int(batch.tokenPositions[token])
            rope.angles(position: position, cos: s.ropeCosines + token * half, sin: s.ropeSines + token * half)
            if let localRope {
                localRope.angles(
                    position: position, cos: s.localRopeCosines + token * half, sin: s.localRopeSines + token * half)
            }
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

    /// target[t] += addend[t] over `rows` rows of the model width (the residual connection).
    func addRows(_ addend: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, rows: Int) {
        Elementwise.add(target, addend, count: rows * configuration.embeddingLength, into: target)
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

    /// logits = c · tanh(logits · (1/c)) over `rows` rows, when the model soft-caps its logits
    /// (as llama.cpp's graph: a scale, libm's `tanhf`, a scale).
    func softcapLogits(rows: Int) {
        guard let cap = configuration.finalLogitSoftcap else { return }
        let vocabulary = configuration.vocabularySize
        let logits = scratch.logits
        let inverse = 1 / cap
        forEachRow(rows) { range in
            for index in range.lowerBound * vocabulary..<range.upperBound * vocabulary {
                logits[index] = tanhf(logits[index] * inverse) * cap
            }
        }
    }
}
