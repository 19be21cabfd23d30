import KilnFormats

/// Matrix products of GGML weight matrices by batches of `Float` activation rows.
///
/// Shapes: `weight` is `[rows × columns]`, `input` is `[batch × columns]` (row `b` at
/// `input + b * inputStride`), `output` is `[batch × rows]`; `output[b][r] = Σ_c weight[r][c] · input[b][c]`.
/// One pass over the weights serves the whole batch (prefill, or several sequences decoding), and
/// each output row depends only on its own input row, so results do not depend on what else is in
/// the batch.
public enum Matmul {
    /// `output[b][r] = Σ_c weight[r][c] · input[b][c]` for `b < batch`, `r < weight.rows`, on `pool`.
    ///
    /// - Parameters:
    ///   - input: `[batch × inputStride]` floats; the first `weight.columns` of each row are read.
    ///   - inputStride: floats between input rows; defaults to `weight.columns`.
    ///   - output: `[batch × weight.rows]` floats (row stride `weight.rows`), written.
    ///   - workspace: scratch reused across calls (quantized activations); grows if too small.
    public static func multiply(_ weight: WeightMatrix, input: UnsafePointer<Float>, batch: Int,
                                inputStride: Int? = nil, output: UnsafeMutablePointer<Float>,
                                pool: WorkerPool, workspace: MatmulWorkspace) {
        var target = MatmulTarget(weight: weight, output: output)
        withUnsafeMutablePointer(to: &target) { pointer in
            multiply(UnsafeBufferPointer(start: pointer, count: 1), input: input, batch: batch,
                     inputStride: inputStride, pool: pool, workspace: workspace)
        }
    }

    /// Several products of one shared input in a single dispatch (e.g. Q, K and V, or gate and up),
    /// which saves pool round trips and quantizes the input once.
    ///
    /// - Parameters:
    ///   - targets: weights (all with the same `columns`) and their outputs. Build the array once
    ///     and reuse it: the call itself allocates nothing.
    ///   - input: `[batch × inputStride]` floats, `inputStride` defaulting to the shared `columns`.
    public static func multiply(_ targets: [MatmulTarget], input: UnsafePointer<Float>, batch: Int,
                                inputStride: Int? = nil, pool: WorkerPool, workspace: MatmulWorkspace) {
        targets.withUnsafeBufferPointer { buffer in
            multiply(buffer, input: input, batch: batch, inputStride: inputStride, pool: pool,
                     workspace: workspace)
        }
    }

    /// As `multiply(_:input:batch:inputStride:pool:workspace:)` over a buffer of targets.
    public static func multiply(_ targets: UnsafeBufferPointer<MatmulTarget>, input: UnsafePointer<Float>,
                                batch: Int, inputStride: Int? = nil, pool: WorkerPool,
                                workspace: MatmulWorkspace) {
        guard let first = targets.first, batch > 0 else { return }
        let columns = first.weight.columns
        let stride = inputStride ?? columns
        for target in targets {
            precondition(target.weight.columns == columns, "Matmul: targets disagree on columns")
            precondition(target.outputStride >= target.weight.rows, "Matmul: output stride too small")
        }
        precondition(stride >= columns, "Matmul: input stride \(stride) < columns \(columns)")
        let plan = MatmulPlan(targets: targets, batch: batch)
        pool.parallelFor(plan.taskCount) { tasks in
            for task in tasks {
                let (targetIndex, rows) = plan.rows(ofTask: task)
                let target = targets[targetIndex]
                referenceRows(target.weight, rows: rows, input: input, batch: batch, inputStride: stride,
                              output: target.output, outputStride: target.outputStride)
            }
        }
    }

    /// The plain-Swift reference: dequantizes each weight row (bit-exact `Dequantization`) and
    /// accumulates `Float` products in column order, on the calling thread. Slow; it is the oracle
    /// that the optimized kernels are tested against.
    public static func reference(_ weight: WeightMatrix, input: UnsafePointer<Float>, batch: Int,
                                 output: UnsafeMutablePointer<Float>) {
        referenceRows(weight, rows: 0..<weight.rows, input: input, batch: batch,
                      inputStride: weight.columns, output: output, outputStride: weight.rows)
    }

    static func referenceRows(_ weight: WeightMatrix, rows: Range<Int>, input: UnsafePointer<Float>,
                              batch: Int, inputStride: Int, output: UnsafeMutablePointer<Float>,
                              outputStride: Int) {
        let blockSize = weight.type.blockSize
        let chunk = blockSize == 1 ? 256 : blockSize
        let chunkBytes = chunk / blockSize * weight.type.typeSize
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { scratch in
            let values = scratch.baseAddress!
            for row in rows {
                for b in 0..<batch { output[b * outputStride + row] = 0 }
                var column = 0
                while column < weight.columns {
                    let count = min(chunk, weight.columns - column)
                    Dequantization.dequantize(weight.type, from: weight.row(row) + column / chunk * chunkBytes,
                                              count: count, into: values)
                    for b in 0..<batch {
                        let x = input + b * inputStride + column
                        var sum: Float = 0
                        for i in 0..<count { sum += values[i] * x[i] }
                        output[b * outputStride + row] += sum
                    }
                    column += count
                }
            }
        }
    }
}
