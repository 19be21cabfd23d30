import Foundation
import KilnServe
import Testing

@Suite("Models loaded on demand under a memory budget")
struct ModelResidencyTests {
    /// A stand-in for a loaded model: counts the work it holds and notices use after unloading.
    final class FakeModel: @unchecked Sendable {
        let id: String
        private let lock = NSLock()
        private var inFlight = 0
        private var unloaded = false
        private(set) var usedAfterUnload = false

        init(id: String) { self.id = id }

        var isIdle: Bool { lock.withLock { inFlight == 0 } }

        func begin() {
            lock.withLock {
                if unloaded { usedAfterUnload = true }
                inFlight += 1
            }
        }

        func end() { lock.withLock { inFlight -= 1 } }

        /// Marks the model unloaded; returns whether it was idle then.
        func unload() -> Bool {
            lock.withLock {
                unloaded = true
                return inFlight == 0
            }
        }
    }

    /// What the residency did, as its load and unload closures saw it.
    final class Journal: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var loads: [String] = []
        private(set) var unloads: [String] = []
        private(set) var unloadedBusy: [String] = []
        private(set) var resident: Set<String> = []
        private(set) var peakResident = 0
        var failLoads: Set<String> = []

        func load(_ id: String) throws -> FakeModel {
            Thread.sleep(forTimeInterval: 0.01)  // loading takes time, so requests pile up behind it
            return try lock.withLock {
                if failLoads.contains(id) { throw FakeLoadError() }
                loads.append(id)
                resident.insert(id)
                peakResident = max(peakResident, resident.count)
                return FakeModel(id: id)
            }
        }

        func unload(_ id: String, _ model: FakeModel) {
            let idle = model.unload()
            lock.withLock {
                unloads.append(id)
                resident.remove(id)
                if !idle { unloadedBusy.append(id) }
            }
        }
    }

    struct FakeLoadError: Error {}

    private func makeResidency(_ journal: Journal, budgetMiB: Int) throws -> ModelResidency<FakeModel> {
        let ledger = try ResidencyLedger(
            models: ["a", "b", "c"].map { (id: $0, costBytes: 100 << 20) }, budgetBytes: budgetMiB << 20)
        return ModelResidency(
            ledger: ledger, pollInterval: .milliseconds(2), load: { try journal.load($0) },
            unload: { journal.unload($0, $1) }, isIdle: { $0.isIdle })
    }

    /// Acquires `id` and waits for the answer.
    private func acquire(
        _ residency: ModelResidency<FakeModel>, _ id: String, timeout: Duration? = .seconds(10)
    ) -> Result<ModelResidency<FakeModel>.Lease, ResidencyError>? {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        residency.acquire(id, timeout: timeout) { result in
            box.set(result)
            done.signal()
        }
        guard done.wait(timeout: .now() + 20) == .success else { return nil }
        return box.result
    }

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Result<ModelResidency<FakeModel>.Lease, ResidencyError>?
        func set(_ value: Result<ModelResidency<FakeModel>.Lease, ResidencyError>) { lock.withLock { stored = value } }
        var result: Result<ModelResidency<FakeModel>.Lease, ResidencyError>? { lock.withLock { stored } }
    }

    @Test func initialLoadTakesWhatFitsInOrder() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 250)
        try residency.loadInitialModels()
        #expect(journal.loads == ["a", "b"])
        #expect(residency.loadedResidents().map(\.id) == ["a", "b"])
    }

    @Test func interleavedRequestsUnderABudgetOfTwoLoseNothing() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 250)
        try residency.loadInitialModels()
        residency.start()
        defer { residency.stop() }
        let ids = ["a", "b", "c"]
        let errors = ErrorLog()
        DispatchQueue.concurrentPerform(iterations: 60) { index in
            let id = ids[(index * 7 + index / 5) % 3]
            switch acquire(residency, id) {
            case .success(let lease)?:
                let model = lease.resident
                #expect(model.id == id)
                model.begin()  // the work submitted under the lease
                lease.release()
                Thread.sleep(forTimeInterval: 0.002)  // the work runs after the lease is gone
                model.end()
            case .failure(let error)?: errors.add("\(id): \(error)")
            case nil: errors.add("\(id): no answer")
            }
        }
        #expect(errors.all.isEmpty)
        #expect(journal.peakResident <= 2, "more models resident than the budget holds")
        #expect(journal.unloadedBusy.isEmpty, "a model was unloaded with work in flight")
        #expect(journal.unloads.count >= 1, "three models in a budget of two must swap")
        // Every load is either still resident or was unloaded once.
        #expect(journal.loads.count == journal.unloads.count + residency.loadedResidents().count)
    }

    @Test func aRequestWaitsForABusyModelAndTimesOutWithinItsDeadline() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 150)
        try residency.loadInitialModels()
        residency.start()
        defer { residency.stop() }
        guard case .success(let lease)? = acquire(residency, "a") else {
            Issue.record("a did not load")
            return
        }
        lease.resident.begin()  // a stays busy: b cannot evict it
        lease.release()
        let started = Date()
        let result = acquire(residency, "b", timeout: .milliseconds(100))
        #expect(result.map { if case .failure(.timedOut(model: "b")) = $0 { true } else { false } } == true)
        #expect(Date().timeIntervalSince(started) < 5)
        // Once a is idle, b loads in its place.
        lease.resident.end()
        guard case .success(let second)? = acquire(residency, "b") else {
            Issue.record("b did not load once a was idle")
            return
        }
        second.release()
        #expect(journal.unloads == ["a"])
        #expect(!lease.resident.usedAfterUnload)
    }

    /// Requests for a loaded model that keep it busy without a break do not keep a request for
    /// another model waiting until its deadline: once that request waits for room, new requests
    /// for the busy model queue behind it, its work drains, and the two swap.
    @Test func aBusyModelCannotStarveARequestForAnother() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 150)
        try residency.loadInitialModels()
        residency.start()
        defer { residency.stop() }
        let stop = ErrorLog()  // non-empty: the clients of a stop
        let clients = DispatchGroup()
        for _ in 0..<3 {
            // Threads of their own: blocked in `acquire`, they must not hold the Dispatch pool's
            // few threads (two on a 2-core machine), which deliver the residency's answers.
            clients.enter()
            Thread {
                // Overlapping jobs on a: without draining, a is never idle.
                while stop.all.isEmpty {
                    guard case .success(let lease)? = acquire(residency, "a") else { continue }
                    lease.resident.begin()
                    lease.release()
                    Thread.sleep(forTimeInterval: 0.005)
                    lease.resident.end()
                }
                clients.leave()
            }.start()
        }
        Thread.sleep(forTimeInterval: 0.05)
        let started = Date()
        let result = acquire(residency, "b", timeout: .seconds(5))
        let waited = Date().timeIntervalSince(started)
        if case .success(let lease)? = result { lease.release() }
        stop.add("stop")
        clients.wait()
        guard case .success? = result else {
            Issue.record("b was starved: \(String(describing: result))")
            return
        }
        #expect(waited < 4)
        #expect(journal.unloadedBusy.isEmpty)
    }

    @Test func unknownModelsFailAtOnceNamingTheAvailableOnes() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 0)
        let result = acquire(residency, "../../etc/passwd")
        #expect(result.map { if case .failure(.unknownModel("../../etc/passwd", ["a", "b", "c"])) = $0 { true } else { false } } == true)
        #expect(journal.loads.isEmpty)
    }

    @Test func aFailedLoadFailsItsWaitersAndIsRetriedLater() throws {
        let journal = Journal()
        journal.failLoads = ["b"]
        let residency = try makeResidency(journal, budgetMiB: 150)
        residency.start()
        defer { residency.stop() }
        let result = acquire(residency, "b")
        #expect(result.map { if case .failure(.loadFailed(model: "b", _)) = $0 { true } else { false } } == true)
        journal.failLoads = []
        guard case .success(let lease)? = acquire(residency, "b") else {
            Issue.record("b did not load on the second try")
            return
        }
        lease.release()
        #expect(residency.snapshot().entry("b")?.phase == .loaded)
    }

    /// Waits up to 10 s for `condition`.
    private func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            if Date() > deadline { return false }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return true
    }

    /// A removed model: new requests are 404s at once, its request in flight keeps it until it
    /// ends, then it is unloaded (never while busy) and forgotten.
    @Test func aRetiredModelFinishesItsWorkThenUnloads() throws {
        let journal = Journal()
        let changes = ErrorLog()
        let ledger = try ResidencyLedger(models: ["a", "b"].map { (id: $0, costBytes: 100 << 20) }, budgetBytes: 0)
        let residency = ModelResidency(
            ledger: ledger, pollInterval: .milliseconds(2), load: { try journal.load($0) },
            unload: { journal.unload($0, $1) }, isIdle: { $0.isIdle }, onChange: { changes.add("\($0)") })
        try residency.loadInitialModels()
        residency.start()
        defer { residency.stop() }
        guard case .success(let lease)? = acquire(residency, "a") else {
            Issue.record("a did not load")
            return
        }
        lease.resident.begin()  // a request in flight
        lease.release()
        residency.retire("a")
        #expect(residency.modelIDs == ["b"])
        let refused = acquire(residency, "a")
        #expect(refused.map { if case .failure(.unknownModel("a", ["b"])) = $0 { true } else { false } } == true)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(journal.unloads.isEmpty, "a model with work in flight was unloaded")
        lease.resident.end()
        #expect(eventually { journal.unloads == ["a"] })
        #expect(eventually { residency.snapshot().entry("a") == nil })
        #expect(journal.unloadedBusy.isEmpty)
        #expect(changes.all.contains { $0.hasPrefix("unloadedOutdated(model: \"a\"") })
        #expect(journal.loads == ["a", "b"], "a retired model is not loaded again")
    }

    /// A changed file: the model serves on until idle, then unloads and loads again.
    @Test func aChangedModelReloadsOnceIdle() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 0)
        try residency.loadInitialModels()
        residency.start()
        defer { residency.stop() }
        guard case .success(let lease)? = acquire(residency, "b") else {
            Issue.record("b did not load")
            return
        }
        let old = lease.resident
        old.begin()
        lease.release()
        try residency.change("b", costBytes: 120 << 20)
        // Still served from the old file meanwhile.
        guard case .success(let during)? = acquire(residency, "b") else {
            Issue.record("b refused while changed")
            return
        }
        #expect(during.resident === old)
        during.release()
        old.end()
        #expect(eventually { journal.loads.filter { $0 == "b" }.count == 2 })
        guard case .success(let after)? = acquire(residency, "b") else {
            Issue.record("b did not reload")
            return
        }
        #expect(after.resident !== old)
        after.release()
        #expect(residency.snapshot().entry("b")?.costBytes == 120 << 20)
        #expect(journal.unloadedBusy.isEmpty)
    }

    /// A model added while serving loads when first requested, under the budget like the others.
    @Test func anAddedModelLoadsOnDemand() throws {
        let journal = Journal()
        let residency = try makeResidency(journal, budgetMiB: 250)
        try residency.loadInitialModels()
        residency.start()
        defer { residency.stop() }
        #expect(acquire(residency, "d").map { if case .failure(.unknownModel) = $0 { true } else { false } } == true)
        try residency.add("d", costBytes: 100 << 20)
        #expect(residency.modelIDs == ["a", "b", "c", "d"])
        guard case .success(let lease)? = acquire(residency, "d") else {
            Issue.record("d did not load")
            return
        }
        #expect(lease.resident.id == "d")
        lease.release()
        #expect(journal.unloads.count == 1, "d needed room: one model made way")
        #expect(journal.peakResident <= 2)
    }

    final class ErrorLog: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ item: String) { lock.withLock { items.append(item) } }
        var all: [String] { lock.withLock { items } }
    }
}
