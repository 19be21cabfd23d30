import Foundation

/// Several models under one memory budget: loads a model when a request names it, unloads the
/// least recently used idle one to make room (as Ollama and llama-swap do), and makes a request
/// for a model that is loading wait for it, within the request's deadline.
///
/// Generic over what a loaded model is (`Resident`): the caller's `load` builds it (an engine, a
/// scheduler, a service), `unload` tears it down, `isIdle` says whether it has work in flight.
/// KilnServe knows no engine; only the ids in the ledger can ever load, whatever a request names.
///
/// One thread of its own (`kiln-models`) loads and unloads, one model at a time, and answers the
/// requests that waited, in arrival order: while a request waits for room, the models that must
/// make way for it lease to no newer request, so that they drain. A request for a loaded model is answered at once on the caller's
/// thread. A lease (``Lease``) keeps its model from being unloaded until it is released: hold one
/// while submitting work to the model; the work in flight then keeps the model idle-checked
/// through `isIdle`.
///
/// The set of models may change while serving (an explicit reload: ``add(_:costBytes:)``,
/// ``retire(_:)``, ``change(_:costBytes:)``): a retired model is listed no more and unloaded once
/// idle, a changed one keeps serving until it is idle and is then unloaded and loaded again, so
/// that no request in flight is lost.
// @unchecked Sendable: `ledger`, `residents`, `waiters` and `stopped` change only under `condition`'s
// lock; the closures are called outside it, except `isIdle`, which must not call back into this object.
public final class ModelResidency<Resident>: @unchecked Sendable {
    /// A model held resident for one request; `release()` it once its work is submitted.
    public final class Lease: @unchecked Sendable {
        public let modelID: String
        public let resident: Resident
        private weak var owner: ModelResidency?
        private let released = NSLock()
        private var isReleased = false

        init(modelID: String, resident: Resident, owner: ModelResidency) {
            self.modelID = modelID
            self.resident = resident
            self.owner = owner
        }

        /// Lets the model be unloaded again (once idle); idempotent.
        public func release() {
            let first = released.withLock {
                defer { isReleased = true }
                return !isReleased
            }
            if first { owner?.release(modelID) }
        }

        deinit { release() }
    }

    public typealias Completion = @Sendable (Result<Lease, ResidencyError>) -> Void

    private struct Waiter {
        let modelID: String
        let deadline: Duration?
        let completion: Completion
    }

    private let condition = NSCondition()
    private var ledger: ResidencyLedger
    private var residents: [String: Resident] = [:]
    private var waiters: [Waiter] = []
    /// Loaded models that a waiting request needs gone: they lease to no new request until it is
    /// served (requests for them queue behind it), so that they drain.
    private var draining: Set<String> = []
    private var stopped = false
    private var thread: Thread?
    private let clock: ServeClock
    private let pollInterval: Duration
    private let load: (String) throws -> Resident
    private let unload: (String, Resident) -> Void
    private let isIdle: (Resident) -> Bool
    /// Told of every load and unload (for logs and metrics), on the models thread.
    private let onChange: (ResidencyChange) -> Void

    /// - Parameters:
    ///   - pollInterval: how often waiting requests look again for an idle model to evict (the
    ///     end of a job is not signalled here; a request that waits for room polls).
    ///   - onChange: told of each load, failed load and unload, with its duration.
    public init(
        ledger: ResidencyLedger, clock: ServeClock = SystemClock(), pollInterval: Duration = .milliseconds(20),
        load: @escaping (String) throws -> Resident, unload: @escaping (String, Resident) -> Void,
        isIdle: @escaping (Resident) -> Bool, onChange: @escaping (ResidencyChange) -> Void = { _ in }
    ) {
        self.ledger = ledger
        self.clock = clock
        self.pollInterval = pollInterval
        self.load = load
        self.unload = unload
        self.isIdle = isIdle
        self.onChange = onChange
    }

    /// The configured model ids, in order.
    public var modelIDs: [String] { condition.withLock { ledger.modelIDs } }

    /// A copy of the bookkeeping (phases, leases, bytes); thread-safe.
    public func snapshot() -> ResidencyLedger { condition.withLock { ledger } }

    /// The loaded models and their residents, in configuration order; thread-safe.
    public func loadedResidents() -> [(id: String, resident: Resident)] {
        condition.withLock { ledger.entries.compactMap { entry in residents[entry.id].map { (entry.id, $0) } } }
    }

    /// Loads, in configuration order and on the calling thread, every model that fits beside the
    /// ones before it without evicting any (with no budget: all of them). Call before `start()`.
    public func loadInitialModels() throws(ResidencyError) {
        for id in modelIDs {
            let fits = condition.withLock {
                guard ledger.fitsWithoutEviction(id) else { return false }
                ledger.beginLoad(id)
                return true
            }
            guard fits else { continue }
            if case .failure(let error) = runLoad(id) { throw error }
        }
    }

    // MARK: - Reconfiguration

    /// Makes `id` available (unloaded; it loads when a request names it).
    /// - Throws: `.exceedsBudget` for a model that could never fit.
    public func add(_ id: String, costBytes: Int) throws(ResidencyError) {
        condition.lock()
        defer { condition.unlock() }
        try ledger.add(id, costBytes: costBytes)
        condition.signal()
    }

    /// Takes `id` out of the configuration: new requests for it are 404s at once (and those
    /// waiting for it fail so), requests in flight finish, and it is unloaded once idle.
    public func retire(_ id: String) {
        condition.withLock {
            ledger.retire(id)
            condition.signal()
        }
    }

    /// The file of `id` changed: once idle it is unloaded and, if it fits beside the others,
    /// loaded again from the new file (otherwise when next requested).
    /// - Throws: `.exceedsBudget` for a new file that could never fit.
    public func change(_ id: String, costBytes: Int) throws(ResidencyError) {
        condition.lock()
        defer { condition.unlock() }
        try ledger.change(id, costBytes: costBytes)
        condition.signal()
    }

    /// Starts the thread that loads on demand and answers waiting requests; idempotent.
    public func start() {
        condition.withLock {
            guard thread == nil, !stopped else { return }
            let loop = Thread { [self] in runLoop() }
            loop.name = "kiln-models"
            thread = loop
            loop.start()
        }
    }

    /// Fails every waiting request with `.shuttingDown` and ends the thread (loaded models stay
    /// as they are: the caller stops them).
    public func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    /// Calls `completion` with a lease on `id` once it is loaded: at once, on this thread, when
    /// it already is; later, on another thread, after loading it (and unloading others to make
    /// room), or with `.timedOut` when `timeout` passes first. An id that is not configured fails
    /// at once with `.unknownModel`.
    public func acquire(_ id: String, timeout: Duration?, _ completion: @escaping Completion) {
        condition.lock()
        guard ledger.isListed(id) else {
            let available = ledger.modelIDs
            condition.unlock()
            return completion(.failure(.unknownModel(id, available: available)))
        }
        guard !stopped else {
            condition.unlock()
            return completion(.failure(.shuttingDown))
        }
        if !draining.contains(id), let lease = leaseLocked(id) {
            condition.unlock()
            return completion(.success(lease))
        }
        waiters.append(Waiter(modelID: id, deadline: timeout.map { clock.now() + $0 }, completion: completion))
        condition.signal()
        condition.unlock()
    }

    // MARK: - The models thread

    private func release(_ id: String) {
        condition.withLock {
            ledger.release(id)
            if !waiters.isEmpty { condition.signal() }
        }
    }

    /// A lease on `id` if it is loaded; the lock must be held.
    private func leaseLocked(_ id: String) -> Lease? {
        guard ledger.entry(id)?.phase == .loaded, let resident = residents[id] else { return nil }
        ledger.lease(id)
        return Lease(modelID: id, resident: resident, owner: self)
    }

    private func runLoop() {
        while true {
            condition.lock()
            if stopped {
                let left = waiters
                waiters.removeAll()
                condition.unlock()
                for waiter in left { answer(waiter, .failure(.shuttingDown)) }
                return
            }
            let (answered, work) = planLocked()
            if answered.isEmpty, work == nil {
                // The end of a job is not signalled: poll while a request or a stale model waits.
                if waiters.isEmpty, !ledger.hasStaleModels {
                    condition.wait()
                } else {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: pollInterval.seconds))
                }
            }
            condition.unlock()
            for (waiter, result) in answered { answer(waiter, result) }
            if let work { perform(work) }
        }
    }

    /// What the models thread does next, outside the lock: unload `evict`, then load `load`, then
    /// load again each of `reload` (changed files, just unloaded) that fits without eviction.
    private struct Work {
        var evict: [String]
        var load: String?
        var reload: [String] = []
    }

    /// Answers what can be answered (leases, expired deadlines, retired models) and picks at most
    /// one load (with its evictions), or else the unloads of idle stale models; the lock must be held.
    private func planLocked() -> (answered: [(Waiter, Result<Lease, ResidencyError>)], work: Work?) {
        let now = clock.now()
        var answered: [(Waiter, Result<Lease, ResidencyError>)] = []
        var work: Work?
        var remaining: [Waiter] = []
        // In arrival order: a request leases its model unless an earlier one waits for that
        // model to make room.
        draining = []
        for waiter in waiters {
            if !ledger.isListed(waiter.modelID) {
                answered.append((waiter, .failure(.unknownModel(waiter.modelID, available: ledger.modelIDs))))
            } else if !draining.contains(waiter.modelID), let lease = leaseLocked(waiter.modelID) {
                answered.append((waiter, .success(lease)))
            } else if let deadline = waiter.deadline, deadline <= now {
                answered.append((waiter, .failure(.timedOut(model: waiter.modelID))))
            } else {
                remaining.append(waiter)
                guard work == nil else { continue }
                let decision = ledger.decide(for: waiter.modelID) { id in residents[id].map(isIdle) ?? false }
                switch decision {
                case .load(let evicting):
                    for id in evicting { ledger.beginUnload(id) }
                    ledger.beginLoad(waiter.modelID)
                    work = Work(evict: evicting, load: waiter.modelID)
                case .wait:
                    draining.formUnion(ledger.modelsToDrain(for: waiter.modelID))
                case .ready:
                    break  // leased above unless draining for an earlier request
                }
            }
        }
        waiters = remaining
        if work == nil {
            let stale = ledger.staleIdleModels { id in residents[id].map(isIdle) ?? false }
            if !stale.isEmpty {
                let changed = stale.filter { ledger.entry($0)?.retired == false }
                for id in stale { ledger.beginUnload(id) }
                work = Work(evict: stale, load: nil, reload: changed)
            }
        }
        return (answered, work)
    }

    private func perform(_ work: Work) {
        for id in work.evict {
            let started = clock.now()
            let (resident, outdated) = condition.withLock {
                (residents.removeValue(forKey: id), ledger.entry(id).map { $0.retired || $0.replacementCostBytes != nil } ?? false)
            }
            if let resident { unload(id, resident) }
            condition.withLock { ledger.finishUnload(id) }
            let seconds = (clock.now() - started).seconds
            onChange(outdated ? .unloadedOutdated(model: id, seconds: seconds) : .unloaded(model: id, seconds: seconds))
        }
        for id in work.reload {
            let fits = condition.withLock {
                guard ledger.isListed(id), ledger.entry(id)?.phase == .unloaded, ledger.fitsWithoutEviction(id) else { return false }
                ledger.beginLoad(id)
                return true
            }
            if fits { _ = runLoad(id) }
        }
        guard let load = work.load else { return }
        if case .failure(let error) = runLoad(load) {
            // Every request waiting for this model gets the failure; a later request tries again.
            let failed = condition.withLock {
                let failed = waiters.filter { $0.modelID == load }
                waiters.removeAll { $0.modelID == load }
                return failed
            }
            for waiter in failed { answer(waiter, .failure(error)) }
        }
    }

    /// Loads `id`, whose ledger entry is `.loading`, outside the lock.
    private func runLoad(_ id: String) -> Result<Void, ResidencyError> {
        let started = clock.now()
        do {
            let resident = try load(id)
            condition.withLock {
                residents[id] = resident
                ledger.finishLoad(id, succeeded: true)
                condition.signal()
            }
            onChange(.loaded(model: id, seconds: (clock.now() - started).seconds))
            return .success(())
        } catch {
            condition.withLock { ledger.finishLoad(id, succeeded: false) }
            onChange(.loadFailed(model: id, reason: "\(error)"))
            return .failure(.loadFailed(model: id, reason: "\(error)"))
        }
    }

    /// Runs a waiter's completion off the models thread, which must stay free to load.
    private func answer(_ waiter: Waiter, _ result: Result<Lease, ResidencyError>) {
        let completion = waiter.completion
        let box = UncheckedResult(result)
        DispatchQueue.global().async { completion(box.result) }
    }
}

/// What ``ModelResidency`` did, for logs and metrics.
public enum ResidencyChange: Sendable, Equatable {
    case loaded(model: String, seconds: Double)
    case loadFailed(model: String, reason: String)
    /// Unloaded to make room for another model.
    case unloaded(model: String, seconds: Double)
    /// Unloaded once idle because a reload removed or changed its file.
    case unloadedOutdated(model: String, seconds: Double)
}

/// Carries a result to another thread; the lease inside is thread-safe, `Resident` is the
/// caller's to share (it is handed to one completion only).
private struct UncheckedResult<Resident>: @unchecked Sendable {
    let result: Result<ModelResidency<Resident>.Lease, ResidencyError>
    init(_ result: Result<ModelResidency<Resident>.Lease, ResidencyError>) { self.result = result }
}
