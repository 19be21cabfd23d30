import Foundation
import KilnServe

/// What a fake image job carries as `ImageJobRequest.parameters`.
struct FakeImage: Sendable {
    var prompt = "p"
    var seed: UInt64 = 1
}

/// A stand-in diffusion engine: a generation's "latent" is one number that each step mixes with
/// the request's seed and the step index, so the final image depends only on the request, and
/// every call is recorded for the tests to inspect. Thread-safe (the lane may call it).
final class FakeImageExecutor: ImageExecutor, @unchecked Sendable {
    private let lock = NSLock()
    private var states: [SequenceID: (request: ImageJobRequest, steps: Int, value: UInt64)] = [:]
    private var calls: [[SequenceID]] = []
    private var releases: [SequenceID] = []
    private var starts: [SequenceID] = []
    /// Seconds each step sleeps (to make a step take time in threaded tests).
    var stepDelay: Double = 0
    /// Steps whose call fails when they include this id.
    var failingID: SequenceID?
    /// Requests with this prompt fail to start.
    var unstartablePrompt = "unstartable"

    var stepCalls: [[SequenceID]] { lock.withLock { calls } }
    var released: [SequenceID] { lock.withLock { releases } }
    var started: [SequenceID] { lock.withLock { starts } }
    var activeCount: Int { lock.withLock { states.count } }

    func startGeneration(_ id: SequenceID, request: ImageJobRequest) throws {
        guard let image = request.parameters as? FakeImage else { throw FakeImageError.failed("not a fake image") }
        if image.prompt == unstartablePrompt { throw ServeError.invalidRequest("cannot start \(id)") }
        lock.withLock {
            starts.append(id)
            states[id] = (request, 0, image.seed)
        }
    }

    func step(_ ids: [SequenceID]) throws {
        if stepDelay > 0 { Thread.sleep(forTimeInterval: stepDelay) }
        try lock.withLock {
            calls.append(ids)
            if let failingID, ids.contains(failingID) { throw FakeImageError.failed("step failed") }
            let keys = Set(ids.compactMap { states[$0]?.request.batchKey })
            guard keys.count == 1, ids.allSatisfy({ states[$0] != nil && states[$0]!.steps < states[$0]!.request.steps }) else {
                throw FakeImageError.failed("bad batch \(ids)")
            }
            for id in ids {
                var state = states[id]!
                state.value = FakeModel.mix(state.value ^ UInt64(state.steps))
                state.steps += 1
                states[id] = state
            }
        }
    }

    func preview(_ id: SequenceID) throws -> RenderedImage {
        let steps = try lock.withLock { () throws -> Int in
            guard let state = states[id] else { throw FakeImageError.failed("no \(id)") }
            return state.steps
        }
        return RenderedImage(width: 1, height: 1, pixels: [Float(steps) / 100, 0, 0])
    }

    func decode(_ id: SequenceID) throws -> RenderedImage {
        try lock.withLock {
            guard let state = states[id], state.steps == state.request.steps else { throw FakeImageError.failed("not done") }
            return Self.image(value: state.value)
        }
    }

    func releaseGeneration(_ id: SequenceID) {
        lock.withLock {
            releases.append(id)
            states[id] = nil
        }
    }

    static func image(value: UInt64) -> RenderedImage {
        RenderedImage(width: 1, height: 1, pixels: [Float(value % 256) / 255, 0, 1])
    }

    /// The image a request gets, computed without the scheduler.
    static func expectedImage(seed: UInt64, steps: Int) -> RenderedImage {
        var value = seed
        for step in 0..<steps { value = FakeModel.mix(value ^ UInt64(step)) }
        return image(value: value)
    }
}

enum FakeImageError: Error {
    case failed(String)
}
