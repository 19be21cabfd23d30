import KilnServe

/// A request served by several jobs (one per choice, or one per image), as the submission loop
/// sees it: `GenerationRun` and `ImageGenerationRun`.
protocol JobFanOut: AnyObject {
    /// Receives the events of job `index`.
    func handler(for index: Int) -> JobEventHandler
    /// Records the job serving `index` once the scheduler took it.
    func attach(_ job: Job, to index: Int)
    /// Fails the whole request, cancelling the jobs already attached.
    func fail(_ error: APIError)
    /// Starts the event stream when the client asked for one (the 200 head goes out here).
    func startStreaming()
}

extension JobFanOut {
    /// Submits jobs `0 ..< count` with `submit` and attaches each. The first refusal (queue
    /// full, draining) fails the request before any event stream has started, so that even a
    /// streaming client gets a plain 429 or 503; once every job is in, the stream starts.
    func submitJobs(
        count: Int,
        _ submit: (_ index: Int, _ onEvent: @escaping JobEventHandler) throws(ServeError) -> Job
    ) {
        for index in 0..<count {
            do {
                attach(try submit(index, handler(for: index)), to: index)
            } catch {
                fail(APIError(serveError: error))
                return
            }
        }
        startStreaming()
    }
}
