/// The scheduler's private state of one admitted embedding job: which of its inputs are embedded.
/// Touched only on the scheduler thread.
final class ActiveEmbedding {
    let job: Job
    let request: EmbeddingJobRequest
    /// Increases with every admission: the smaller, the older.
    let admissionOrder: UInt64
    /// The vectors so far, by input; all set once every input is embedded.
    var vectors: [[Float]]
    /// The next input not yet handed to the executor (inputs go in order).
    var nextInput = 0
    /// Inputs whose vectors arrived.
    var embeddedCount = 0
    /// Set once its terminal event went out; the scheduler then drops it.
    var hasEnded = false

    init(job: Job, request: EmbeddingJobRequest, admissionOrder: UInt64) {
        self.job = job
        self.request = request
        self.admissionOrder = admissionOrder
        vectors = Array(repeating: [], count: request.inputs.count)
    }

    var hasPendingInputs: Bool { nextInput < request.inputs.count }
    var isComplete: Bool { embeddedCount == request.inputs.count }
}
