import CKilnKernels
import KilnFormats

/// Matrix products of GGML weight matrices by batches of `Float` activation rows.
///
/// Shapes: `weight` is `[rows × columns]`, `input` is `[batch × columns]` (row `b` at
/// `input + b * inputStride`), `output` is `[batch × rows]`; `output[b][r] = Σ_c weight[r][c] · input[b][c]`.
/// One pass over the weights serves the whole batch (prefill, or several sequences decoding), and
/// each output row depends only on its own input row, so results do not depend on what else is in
/// the batch (the same bits: the kernels do the same float operations per row for every batch size).
///
/// Kernel choice (`KernelPath.automatic`). Quantized weights use integer kernels: the activation
/// rows are quantized once per call to 8-bit blocks of 32 (scale max|x|/127, round to nearest even),
/// each 32-weight unit's dot product is formed with `maddubs`/`madd` in integers and scaled in float.
/// The alternative — dequantizing weights in registers against f32 activations — was measured with
/// `kiln bench-kernels` (one thread, thread CPU time, SmolLM2 shapes, weights streamed from memory):
///
/// | weights | decode matvec, int / float | batch 512, int / float |
/// |---------|----------------------------|------------------------|
/// | Q4_1    | ~10 GB/s / ~4.1 GB/s       | ~34 / ~20 GMAC/s       |
/// | Q8_0    | ~12 GB/s / ~4.6 GB/s       | ~30 / ~13 GMAC/s       |
///
/// so the integer path is kept for every quantized type that has one; F32/F16/BF16 weights use float
/// kernels. Q2_K, Q3_K, IQ4_NL and IQ4_XS have no kernel: their rows are dequantized exactly and
/// multiplied by the F32 float kernel (`dequantizedRows`), correct but slower.
/// Its cost is accuracy: each activation moves by at most half a quantization step
/// (max|x_block| / 254, plus the rounding of the step to a half), the same approximation llama.cpp
/// makes for these types, with the same roundings (see kiln_matmul_q8).
public enum Matmul {
    /// Whether the integer kernels take their AVX-512 VNNI bodies where the CPU has them (the
    /// default). Benchmarks turn it off to measure the AVX2 bodies in the same process; the
    /// results are bitwise the same either way. Process-wide.
    public static var wideVectorsEnabled: Bool {
        get { kiln_avx512_active() != 0 }
        set { kiln_set_avx512_enabled(newValue ? 1 : 0) }
    }

    /// `output[b][r] = Σ_c weight[r][c] · input[b][c]` for `b < batch`, `r < weight.rows`, on `pool`.
    ///
    /// - Parameters:
    ///   - input: `[batch × inputStride]` floats; the first `weight.columns` of each row are read.
    ///   - inputStride: floats between input rows; defaults to `weight.columns`.
    ///   - output: `[batch × weight.rows]` floats (row stride `weight.rows`), written.
    ///   - workspace: scratch reused across calls (quantized activations); grows if too small.
    ///   - path: the kernel family; leave `.automatic` outside benchmarks and tests.
    public static func multiply(
        _ weight: WeightMatrix, input: UnsafePointer<Float>, batch: Int,
        inputStride: Int? = nil, output: UnsafeMutablePointer<Float>,
        pool: WorkerPool, workspace: MatmulWorkspace, path: KernelPath = .automatic
    ) {
        var target = MatmulTarget(weight: weight, output: output)
        withUnsafeMutablePointer(to: &target) { pointer in
            multiply(
                UnsafeBufferPointer(start: pointer, count: 1), input: input, batch: batch,
                inputStride: inputStride, pool: pool, workspace: workspace, path: path)
        }
    }

    /// Several products of one shared input in a single dispatch (e.g. Q, K and V, or gate and up),
    /// which saves pool round trips and quantizes the input once.
    ///
    /// - Parameters:
    ///   - targets: weights (all with the same `columns`) and their outputs. Build the array once
    ///     and reuse it: the call itself allocates nothing.
    ///   - input: `[batch × inputStride]` floats, `inputStride` defaulting to the shared `columns`.
    public static func multiply(
        _ targets: [MatmulTarget], input: UnsafePointer<Float>, batch: Int,
        inputStride: Int? = nil, pool: WorkerPool, workspace: MatmulWorkspace
    ) {
        targets.withUnsafeBufferPointer { buffer in
            multiply(
                buffer, input: input, batch: batch, inputStride: inputStride, pool: pool,
                workspace: workspace)
        }
    }

    /// As `multiply(_:input:batch:inputStride:pool:workspace:)` over a buffer of targets.
    public static func multiply(
        _ targets: UnsafeBufferPointer<MatmulTarget>, input: UnsafePointer<Float>,
        batch: Int, inputStride: Int? = nil, pool: WorkerPool,
        workspace: MatmulWorkspace
    ) {
        multiply(
            targets, input: input, batch: batch, inputStride: inputStride, pool: pool,
            workspace: workspace, path: .automatic)
    }

    /// Which kernel family a matmul uses; `.automatic` everywhere except in the kernel benchmark
    /// and tests, which compare the two.
    public enum KernelPath: Sendable {
        /// Integer kernels for quantized weights (activations quantized to 8 bits), float kernels
        /// for F32/F16/BF16.
        case automatic
        /// Weights dequantized in registers against f32 activations. Kept for F32/F16/BF16, and
        /// for Q4_1/Q8_0 only so that the benchmark can compare it; other types fall back to
        /// `.automatic`.
        case floatActivations
        /// The same kernel choice as `.automatic`, but always their portable scalar C bodies (what a
        /// CPU without AVX2 runs); lets tests check those bodies on an AVX2 machine.
        case portable
        /// The plain-Swift reference, spread over the pool.
        case reference
    }

    /// As `multiply(_:input:batch:inputStride:pool:workspace:)`, choosing the kernel family.
    public static func multiply(
        _ targets: UnsafeBufferPointer<MatmulTarget>, input: UnsafePointer<Float>,
        batch: Int, inputStride: Int? = nil, pool: WorkerPool,
        workspace: MatmulWorkspace, path: KernelPath
    ) {
        guard let first = targets.first, batch > 0 else { return }
        let columns = first.weight.columns
        let stride = inputStride ?? columns
        var needsQuantized = false, needsQuantizedK = false
        for target in targets {
            precondition(target.weight.columns == columns, "Matmul: targets disagree on columns")
            precondition(target.outputStride >= target.weight.rows, "Matmul: output stride too small")
            guard path != .reference else { continue }
            if usesKQuantKernel(target.weight.type) {
                needsQuantizedK = true
            } else if usesIntegerKernel(target.weight.type, path: path) {
                needsQuantized = true
            }
        }
        precondition(stride >= columns, "Matmul: input stride \(stride) < columns \(columns)")
        if needsQuantized {
            quantizeActivations(
                input, batch: batch, columns: columns, stride: stride, pool: pool,
                workspace: workspace, portable: path == .portable)
        }
        if needsQuantizedK {
            quantizeActivationsK(input, batch: batch, columns: columns, stride: stride, pool: pool, workspace: workspace)
        }
        let quantized = UnsafeRawPointer(workspace.quantized).assumingMemoryBound(to: kiln_q8x4_block.self)
        let quantizedK = UnsafeRawPointer(workspace.quantizedK).assumingMemoryBound(to: kiln_q8k_block.self)
        let groupStride = MatmulWorkspace.groupBytes(columns: columns) / MatmulWorkspace.groupBlockBytes
        let plan = MatmulPlan(targets: targets, batch: batch, threadCount: pool.threadCount)
        pool.parallelFor(plan.taskCount) { tasks in
            for task in tasks {
                let (index, rows, batchRange) = plan.task(task, batch: batch)
                let target = targets[index]
                let weight = target.weight
                let output = target.output + batchRange.lowerBound * target.outputStride + rows.lowerBound
                let type = Int32(weight.type.rawValue)
                if path == .reference {
                    referenceRows(
                        weight, rows: rows, input: input + batchRange.lowerBound * stride,
                        batch: batchRange.count, inputStride: stride,
                        output: target.output + batchRange.lowerBound * target.outputStride,
                        outputStride: target.outputStride)
                } else if usesKQuantKernel(weight.type) {
                    (path == .portable ? kiln_matmul_q8k_scalar : kiln_matmul_q8k)(
                        type, weight.row(rows.lowerBound), weight.rowByteCount, Int32(rows.count), Int32(columns),
                        quantizedK + batchRange.lowerBound * (columns / 256), Int32(batchRange.count),
                        output, target.outputStride)
                } else if usesIntegerKernel(weight.type, path: path) {
                    // Batch chunks start at multiples of 4 (MatmulPlan.batchChunk), so at a group boundary.
                    (path == .portable ? kiln_matmul_q8_scalar : kiln_matmul_q8)(
                        type, weight.row(rows.lowerBound), weight.rowByteCount, Int32(rows.count), Int32(columns),
                        quantized + batchRange.lowerBound / 4 * groupStride, Int32(batchRange.count),
                        output, target.outputStride)
                } else if usesDequantizedRows(weight.type) {
                    dequantizedRows(
                        weight, rows: rows, input: input + batchRange.lowerBound * stride, inputStride: stride,
                        batch: batchRange.count, output: output, outputStride: target.outputStride,
                        portable: path == .portable)
                } else {
                    (path == .portable ? kiln_matmul_f32_scalar : kiln_matmul_f32)(
                        type, weight.row(rows.lowerBound), weight.rowByteCount, Int32(rows.count),
                        Int32(columns), input + batchRange.lowerBound * stride, stride,
                        Int32(batchRange.count), output, target.outputStride)
                }
            }
        }
    }

    /// Integer kernels serve every quantized type, except Q4_1/Q8_0 when float activations are
    /// asked for.
    private static func usesIntegerKernel(_ type: GGMLType, path: KernelPath) -> Bool {
        guard kiln_matmul_q8_supports(Int32(type.rawValue)) != 0 else { return false }
        return !(path == .floatActivations && kiln_matmul_f32_supports(Int32(type.rawValue)) != 0)
    }

    /// Q4_K and Q6_K take llama.cpp's Q8_K activations (256 values per float scale) and its
    /// products (`kiln_matmul_q8k`), so that they round as llama.cpp's do; Q5_K keeps the 32-value
    /// blocks of the other types.
    private static func usesKQuantKernel(_ type: GGMLType) -> Bool {
        kiln_matmul_q8k_supports(Int32(type.rawValue)) != 0
    }

    /// Quantizes `[batch × columns]` activations to Q8_K blocks in the workspace.
    private static func quantizeActivationsK(
        _ input: UnsafePointer<Float>, batch: Int, columns: Int, stride: Int, pool: WorkerPool,
        workspace: MatmulWorkspace
    ) {
        workspace.reserve(batch: batch, columns: columns)
        let blocks = workspace.quantizedK.assumingMemoryBound(to: kiln_q8k_block.self)
        if batch < 16 {
            kiln_quantize_q8k(input, stride, Int32(batch), Int32(columns), blocks)
            return
        }
        pool.parallelFor(batch, grain: 16) { rows in
            kiln_quantize_q8k(
                input + rows.lowerBound * stride, stride, Int32(rows.count), Int32(columns),
                blocks + rows.lowerBound * (columns / 256))
        }
    }

    /// Quantizes `[batch × columns]` activations into the workspace: on the caller for a few rows,
    /// across the pool for a prefill batch.
    private static func quantizeActivations(
        _ input: UnsafePointer<Float>, batch: Int, columns: Int, stride: Int,
        pool: WorkerPool, workspace: MatmulWorkspace, portable: Bool
    ) {
        workspace.reserve(batch: batch, columns: columns)
        let quantize = portable ? kiln_quantize_q8_scalar : kiln_quantize_q8
        let groups = workspace.quantized.assumingMemoryBound(to: kiln_q8x4_block.self)
        let groupStride = MatmulWorkspace.groupBytes(columns: columns) / MatmulWorkspace.groupBlockBytes
        if batch < 16 {
            quantize(input, stride, Int32(batch), Int32(columns), groups)
            return
        }
        // Chunks of 16 rows are whole groups of 4; each chunk pads only if it holds the batch's end.
        pool.parallelFor(batch, grain: 16) { rows in
            quantize(
                input + rows.lowerBound * stride, stride, Int32(rows.count), Int32(columns),
                groups + rows.lowerBound / 4 * groupStride)
        }
    }

    /// The plain-Swift reference: dequantizes each weight row (bit-exact `Dequantization`) and
    /// accumulates `Float` products in column order, on the calling thread. Slow; it is the oracle
    /// that the optimized kernels are tested against.
    public static func reference(
        _ weight: WeightMatrix, input: UnsafePointer<Float>, batch: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        referenceRows(
            weight, rows: 0..<weight.rows, input: input, batch: batch,
            inputStride: weight.columns, output: output, outputStride: weight.rows)
    }

    static func referenceRows(
        _ weight: WeightMatrix, rows: Range<Int>, input: UnsafePointer<Float>,
        batch: Int, inputStride: Int, output: UnsafeMutablePointer<Float>,
        outputStride: Int
    ) {
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
                    Dequantization.dequantize(
                        weight.type, from: weight.row(row) + column / chunk * chunkBytes,
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
