/// How a multi-target matmul is cut into tasks: each target's rows in tiles of `rowTile`, times the
/// batch in chunks of `batchChunk`, numbered consecutively (row tiles of one batch chunk together).
/// Lives on the stack; made per call without allocating.
struct MatmulPlan {
    /// Rows per task. Batched: up to 64, so that what a kernel prepares from the activations once
    /// per call (the AVX-512 bodies' biased quants, Q4_K's sideways blocks) serves many weight rows
    /// (`kiln bench-kernels`, one thread, batch 64: 64 rows against 16 gave Q4_K +19%, Q5_0 and
    /// Q8_0 +5%), but at least four tasks per thread. Decode: up to `decodeTileBytes` of weights, but
    /// at least two tasks per thread.
    let rowTile: Int
    /// Activation rows per task: bounds the activations a task touches (64 rows of 1536 inputs
    /// quantized are 123 KB, well inside L2) while each weight tile is reused across them.
    let batchChunk: Int
    let batchChunks: Int
    let rowTilesPerChunk: Int
    let taskCount: Int
    private let targets: UnsafeBufferPointer<MatmulTarget>

    /// Weight bytes a decode task streams at most: long contiguous runs keep the hardware
    /// prefetcher ahead (measured with 2 threads: Q4_1 matvec ~11 GB/s with 11 KB tasks, ~18 GB/s
    /// with 64 KB tasks).
    static let decodeTileBytes = 65_536

    init(targets: UnsafeBufferPointer<MatmulTarget>, batch: Int, threadCount: Int) {
        self.targets = targets
        if batch >= 8 {
            var rows = 0
            for target in targets { rows += target.weight.rows }
            let tasksPerTile = (batch + 63) / 64
            let balanced = rows * tasksPerTile / (4 * threadCount)
            rowTile = max(16, min(64, balanced / 16 * 16))
        } else {
            // As long as possible, but at least two tasks per thread so that threads stay balanced.
            var rows = 0
            for target in targets { rows += target.weight.rows }
            let rowBytes = max(targets.first?.weight.rowByteCount ?? 1, 1)
            let balanced = (rows + 2 * threadCount - 1) / (2 * threadCount)
            rowTile = max(16, min(Self.decodeTileBytes / rowBytes, balanced))
        }
        batchChunk = 64
        batchChunks = (batch + batchChunk - 1) / batchChunk
        var tiles = 0
        for target in targets { tiles += (target.weight.rows + rowTile - 1) / rowTile }
        rowTilesPerChunk = tiles
        taskCount = tiles * batchChunks
    }

    /// The target, row range and batch range of task `task`.
    func task(_ task: Int, batch: Int) -> (target: Int, rows: Range<Int>, batch: Range<Int>) {
        let chunk = task / rowTilesPerChunk
        var remaining = task % rowTilesPerChunk
        let batchRange = chunk * batchChunk..<min((chunk + 1) * batchChunk, batch)
        for (index, target) in targets.enumerated() {
            let tiles = (target.weight.rows + rowTile - 1) / rowTile
            if remaining < tiles {
                let start = remaining * rowTile
                return (index, start..<min(start + rowTile, target.weight.rows), batchRange)
            }
            remaining -= tiles
        }
        preconditionFailure("MatmulPlan: task \(task) out of range")
    }
}
