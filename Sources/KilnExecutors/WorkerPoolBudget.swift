import KilnServe
import KilnTensor

/// The scheduler's thread shares (`ThreadShares`, under `SchedulerSettings.computeSharing`) applied
/// to the engines' own worker pools as thread budgets (`WorkerPool.threadBudget`): the text share
/// to the pools whose kernels run on the scheduler thread (the language model's, the embedding
/// encoders'), the image share to the image pipelines'. No pool is added: the workers outside a
/// budget park, leaving their cores to the other side.
public final class WorkerPoolBudget: ThreadBudget {
    public let cores: Int
    private let textPools: [WorkerPool]
    private let imagePools: [WorkerPool]

    /// - Parameters:
    ///   - cores: the cores the shares divide (`kiln` passes the online cores).
    ///   - text: the pools of the language model and the embedding encoders.
    ///   - image: the pools of the image pipelines (a pool on both lists would take the image share).
    public init(cores: Int, text: [WorkerPool], image: [WorkerPool]) {
        self.cores = max(cores, 1)
        textPools = Self.distinct(text)
        imagePools = Self.distinct(image)
    }

    public func apply(_ shares: ThreadShares) {
        for pool in textPools { pool.threadBudget = shares.text }
        for pool in imagePools { pool.threadBudget = shares.image }
    }

    private static func distinct(_ pools: [WorkerPool]) -> [WorkerPool] {
        var seen = Set<ObjectIdentifier>()
        return pools.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }
}
