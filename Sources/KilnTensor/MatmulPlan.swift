/// How a multi-target matmul is cut into tasks: each target's rows in tiles of `rowTile`, numbered
/// consecutively across targets. Lives on the stack; computed per call without allocating.
struct MatmulPlan {
    /// Rows per task: enough work to amortize claiming a chunk, small enough to balance two
    /// threads on a 576-row matrix.
    let rowTile: Int
    let taskCount: Int
    private let targets: UnsafeBufferPointer<MatmulTarget>

    init(targets: UnsafeBufferPointer<MatmulTarget>, batch: Int) {
        self.targets = targets
        rowTile = batch >= 8 ? 16 : 32
        var count = 0
        for target in targets { count += (target.weight.rows + rowTile - 1) / rowTile }
        taskCount = count
    }

    /// The target and row range of task `task`.
    func rows(ofTask task: Int) -> (target: Int, rows: Range<Int>) {
        var remaining = task
        for (index, target) in targets.enumerated() {
            let tiles = (target.weight.rows + rowTile - 1) / rowTile
            if remaining < tiles {
                let start = remaining * rowTile
                return (index, start..<min(start + rowTile, target.weight.rows))
            }
            remaining -= tiles
        }
        preconditionFailure("MatmulPlan: task \(task) out of range")
    }
}
