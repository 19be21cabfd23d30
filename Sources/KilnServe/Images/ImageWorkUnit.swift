import Foundation

/// One turn of the image lane: start new generations, advance one batch by one denoising step,
/// make the previews that step owes, and decode what it finished. Built by the scheduler, run on
/// the lane (`run`), read back by the scheduler once the lane is idle; the lane's lock orders the
/// two, so no field is touched by both at once.
// @unchecked Sendable: the lane writes the results while the scheduler waits for `ImageLane.isBusy` to
// turn false, and the lane's condition lock orders the two; no field is touched by both at once.
final class ImageWorkUnit: @unchecked Sendable {
    /// Generations to start first, with their requests.
    let starts: [(id: SequenceID, request: ImageJobRequest)]
    /// The generations to step together (all with one batch key), started ones and those above.
    let batch: [SequenceID]
    /// Generations owing a preview after this step.
    let previews: Set<SequenceID>
    /// Generations that this step finishes: decode them.
    let decodes: Set<SequenceID>

    // Results, written by `run`.
    private(set) var startErrors: [SequenceID: Error] = [:]
    private(set) var stepError: Error?
    private(set) var stepped: [SequenceID] = []
    private(set) var stepSeconds = 0.0
    private(set) var previewImages: [SequenceID: RenderedImage] = [:]
    private(set) var decoded: [SequenceID: Result<RenderedImage, Error>] = [:]

    init(
        starts: [(id: SequenceID, request: ImageJobRequest)], batch: [SequenceID], previews: Set<SequenceID>,
        decodes: Set<SequenceID>
    ) {
        self.starts = starts
        self.batch = batch
        self.previews = previews
        self.decodes = decodes
    }

    /// Does the unit's work with `executor`; never throws (failures are results).
    func run(on executor: ImageExecutor) {
        for (id, request) in starts {
            do {
                try executor.startGeneration(id, request: request)
            } catch {
                startErrors[id] = error
            }
        }
        let ready = batch.filter { startErrors[$0] == nil }
        guard !ready.isEmpty else { return }
        let started = ContinuousClock.now
        do {
            try executor.step(ready)
        } catch {
            stepError = error
            return
        }
        let elapsed = ContinuousClock.now - started
        stepSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        stepped = ready
        for id in ready where previews.contains(id) {
            // A preview that fails is skipped: it is a courtesy, not the result.
            previewImages[id] = try? executor.preview(id)
        }
        for id in ready where decodes.contains(id) {
            decoded[id] = Result { try executor.decode(id) }
        }
    }
}
