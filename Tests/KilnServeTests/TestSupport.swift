import Foundation
import KilnServe

/// Collects one job's events, thread-safely, and checks their order.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var tokenIDs: [TokenID] = []
    private var terminalEvents: [JobEvent] = []
    private var eventsAfterTerminal = 0
    private var indicesInOrder = true
    private let ended = DispatchSemaphore(value: 0)
    /// Runs inside the handler after recording (on the scheduler thread).
    var onToken: ((GeneratedToken) -> Void)?

    var handler: JobEventHandler {
        { [self] event in record(event) }
    }

    private func record(_ event: JobEvent) {
        lock.lock()
        if !terminalEvents.isEmpty { eventsAfterTerminal += 1 }
        var tokenToReport: GeneratedToken?
        switch event {
        case let .token(token):
            if token.index != tokenIDs.count { indicesInOrder = false }
            tokenIDs.append(token.id)
            tokenToReport = token
        case .done, .error, .imageFinished, .embeddingsFinished:
            terminalEvents.append(event)
        case .imageProgress:
            break
        }
        let callback = onToken
        lock.unlock()
        if let tokenToReport { callback?(tokenToReport) }
        if event.isTerminal { ended.signal() }
    }

    var tokens: [TokenID] {
        lock.lock()
        defer { lock.unlock() }
        return tokenIDs
    }

    /// The terminal events received (exactly one when the job is over).
    var terminals: [JobEvent] {
        lock.lock()
        defer { lock.unlock() }
        return terminalEvents
    }

    /// Sane ordering: token indices 0, 1, 2, … and nothing after the terminal event.
    var isWellOrdered: Bool {
        lock.lock()
        defer { lock.unlock() }
        return indicesInOrder && eventsAfterTerminal == 0
    }

    var completion: JobCompletion? {
        guard case let .done(completion)? = terminals.first else { return nil }
        return completion
    }

    var error: ServeError? {
        guard case let .error(error)? = terminals.first else { return nil }
        return error
    }

    /// Waits for the terminal event (for tests running the scheduler thread).
    func waitForEnd(seconds: Double) -> Bool {
        ended.wait(timeout: .now() + seconds) == .success
    }
}

/// A scheduler over a `FakeModelExecutor` and a `ManualClock`, driven by hand.
struct Harness {
    let scheduler: Scheduler
    let executor: FakeModelExecutor
    let clock: ManualClock

    init(
        _ configure: (inout SchedulerSettings) -> Void = { _ in },
        hashFunction: BlockHashFunction = .fnv1a,
        observer: SchedulerObserver? = nil
    ) throws {
        var settings = SchedulerSettings()
        settings.kvBlockCount = 64
        settings.kvBlockSize = 4
        settings.maxBatchSequences = 8
        settings.tokenBudgetPerIteration = 64
        settings.admissionReserveBlocks = 0
        configure(&settings)
        clock = ManualClock()
        executor = FakeModelExecutor(blockSize: settings.kvBlockSize, blockCount: settings.kvBlockCount)
        scheduler = try Scheduler(
            settings: settings, executor: executor, clock: clock,
            hashFunction: hashFunction, observer: observer)
    }

    @discardableResult
    func submit(
        prompt: [TokenID], maxNewTokens: Int, seed: UInt64 = 1, priority: Int = 0,
        stop: Set<TokenID> = [], timeout: Duration? = nil,
        log: EventLog = EventLog()
    ) throws -> (job: Job, log: EventLog) {
        let request = GenerationRequest(
            promptTokens: prompt, maxNewTokens: maxNewTokens,
            stopTokenIDs: stop, sampling: FakeSampling(seed: seed),
            priority: priority, timeout: timeout)
        let job = try scheduler.submit(request, onEvent: log.handler)
        return (job, log)
    }

    /// Runs iterations until nothing is left to do; returns how many did something.
    @discardableResult
    func runUntilIdle(limit: Int = 10_000) -> Int {
        var count = 0
        while count < limit, scheduler.runIteration() { count += 1 }
        return count
    }
}

/// A small deterministic generator for randomized tests (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return FakeModel.mix(state)
    }
}

/// Distinct prompt tokens: `count` tokens starting at `base`.
func tokens(_ base: Int, count: Int) -> [TokenID] {
    (0..<count).map { TokenID(base + $0) }
}

extension Job {
    /// The request of a text job (the tests' jobs are text unless they say otherwise).
    var textRequest: GenerationRequest {
        guard case .text(let request) = work else { fatalError("job \(id) is not a text job") }
        return request
    }
}
