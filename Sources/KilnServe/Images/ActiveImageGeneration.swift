/// The scheduler's private state of one admitted image job. Touched only on the scheduler thread
/// (the image lane sees the ids and requests, never this object's mutable state).
final class ActiveImageGeneration {
    let job: Job
    let request: ImageJobRequest
    let key: ImageBatchKey
    /// Whether the executor has started it (text encoded, noise drawn).
    var isStarted = false
    /// Denoising steps taken.
    var stepsDone = 0
    /// Increases with every admission: the smaller, the older.
    let admissionOrder: UInt64
    /// The scheduler's step counter when it last stepped (0: never); the least recent goes next.
    var lastStepOrder: UInt64 = 0
    /// Set once its terminal event went out; the scheduler then drops it.
    var hasEnded = false

    init(job: Job, request: ImageJobRequest, admissionOrder: UInt64) {
        self.job = job
        self.request = request
        self.key = request.batchKey
        self.admissionOrder = admissionOrder
    }

    var totalSteps: Int { request.steps }
    var isDenoised: Bool { stepsDone >= totalSteps }

    /// Whether the step that brings it to `stepsDone + 1` sends a preview: every
    /// `previewInterval` steps, never at the last step (the image itself follows).
    var previewsNextStep: Bool {
        let next = stepsDone + 1
        return request.previewInterval > 0 && next < totalSteps && next % request.previewInterval == 0
    }
}
