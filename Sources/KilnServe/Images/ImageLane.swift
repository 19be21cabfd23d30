import Foundation

/// Where image work units run: inline on the scheduler thread, or on a thread of its own so that
/// a denoising step overlaps the text iterations the scheduler keeps running meanwhile.
///
/// One unit at a time. `launch` hands a unit over; `isBusy` turns false once it has run, and
/// `onFinish` (the scheduler's wake-up) is called after each unit run on the lane's thread.
// @unchecked Sendable: every mutable field is read and written under `condition`.
final class ImageLane: @unchecked Sendable {
    let overlaps: Bool
    private let onFinish: @Sendable () -> Void
    private let condition = NSCondition()
    private var pending: (() -> Void)?
    private var busy = false
    private var stopping = false
    private var thread: Thread?

    init(overlaps: Bool, onFinish: @escaping @Sendable () -> Void) {
        self.overlaps = overlaps
        self.onFinish = onFinish
    }

    /// Whether a launched unit has not finished yet.
    var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy
    }

    /// Runs `work` now (inline) or hands it to the lane's thread (overlapping). The lane must be idle.
    func launch(_ work: @escaping () -> Void) {
        guard overlaps else {
            work()
            return
        }
        condition.lock()
        precondition(!busy, "the image lane runs one unit at a time")
        if thread == nil && !stopping {
            let lane = Thread { [self] in loop() }
            lane.name = "kiln-image-lane"
            lane.qualityOfService = .userInitiated
            thread = lane
            lane.start()
        }
        busy = !stopping
        pending = stopping ? nil : work
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until the unit in flight, if any, has run.
    func waitUntilIdle() {
        condition.lock()
        while busy { condition.wait() }
        condition.unlock()
    }

    /// Lets the thread end once idle; later launches run nothing. Idempotent.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while pending == nil && !stopping { condition.wait() }
            guard let work = pending else {
                condition.unlock()
                return
            }
            pending = nil
            condition.unlock()
            work()
            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
            onFinish()
        }
    }
}
