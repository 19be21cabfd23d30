/// How a multi-target matmul is cut into tasks: each target's rows in tiles of `rowTile`, times the
/// batch in chunks of `batchChunk`, numbered consecutively (row tiles of one batch chunk together).
/// Lives on the stack; made per call without allocating.
struct MatmulPlan {
    /// Rows per task: enough work to amortize claiming a task, small enough that two threads
    /// balance on a 576-row matrix and a task's weights stay in L1/L2.
    let rowTile: Int
    /// Activation rows per task: bounds the activations a task touches (64 rows of 1536 inputs
    /// quantized are 123 KB, well inside L2) while each weight tile is reused across them.
    let batchChunk: Int
    let batchChunks: Int
    let rowTilesPerChunk: Int
    let taskCount: Int
    private let targets: UnsafeBufferPointer<MatmulTarget>

    init(targets: UnsafeBufferPointer<MatmulTarget>, batch: Int) {
        self.targets = targets
        rowTile = batch >= 8 ? 16 : 32
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
        let batchRange = chunk * batchChunk ..< min((chunk + 1) * batchChunk, batch)
        for (index, target) in targets.enumerated() {
            let tiles = (target.weight.rows + rowTile - 1) / rowTile
            if remaining < tiles {
                let start = remaining * rowTile
                return (index, start ..< min(start + rowTile, target.weight.rows), batchRange)
            }
            remaining -= tiles
        }
        preconditionFailure("MatmulPlan: task \(task) out of range")
    }
}
