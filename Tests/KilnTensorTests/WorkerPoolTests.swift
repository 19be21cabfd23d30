import Foundation
import KilnTensor
import Testing

@Suite struct WorkerPoolTests {
    @Test(arguments: [1, 2, 3, 5])
    func parallelForVisitsEveryIndexOnce(threads: Int) {
        let pool = WorkerPool(threadCount: threads)
        let count = 10_007
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer { hits.deallocate() }
        for round in 0..<50 {
            hits.initialize(repeating: 0, count: count)
            pool.parallelFor(count, grain: 1 + round) { range in
                for i in range { hits[i] += 1 }
            }
            #expect((0..<count).allSatisfy { hits[$0] == 1 })
        }
    }

    @Test func runOnEveryThreadGivesEachIndexOnce() {
        let pool = WorkerPool(threadCount: 4)
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { seen.deallocate() }
        for _ in 0..<20 {
            seen.initialize(repeating: 0, count: 4)
            pool.runOnEveryThread { index in seen[index] += 1 }
            #expect(Array(UnsafeBufferPointer(start: seen, count: 4)) == [1, 1, 1, 1])
        }
    }

    @Test func nestedDispatchRunsInlineWithoutDeadlock() {
        let pool = WorkerPool(threadCount: 2)
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { total.deallocate() }
        total.initialize(repeating: 0, count: 64)
        pool.parallelFor(8) { outer in
            for o in outer {
                pool.parallelFor(8) { inner in for i in inner { total[o * 8 + i] += 1 } }
            }
        }
        #expect((0..<64).allSatisfy { total[$0] == 1 })
    }

    @Test func workersWakeAfterParking() throws {
        let pool = WorkerPool(threadCount: 2, spinMicroseconds: 0)
        let flags = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { flags.deallocate() }
        for _ in 0..<20 {
            flags.initialize(repeating: 0, count: 2)
            usleep(2_000)  // let the worker park
            pool.runOnEveryThread { flags[$0] = 1 }
            #expect(flags[0] == 1 && flags[1] == 1)
        }
    }

    /// Parked workers wake slowly; the caller may finish every chunk and close the dispatch before
    /// they arrive. Late workers must then skip it — never run a chunk twice or join a later job.
    @Test func lateWorkersSkipAFinishedParallelFor() {
        let pool = WorkerPool(threadCount: 3, spinMicroseconds: 0)
        let count = 64
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer { hits.deallocate() }
        for round in 0..<300 {
            hits.initialize(repeating: 0, count: count)
            if round % 50 == 0 { usleep(1_000) }  // let the workers park now and then
            pool.parallelFor(round % 3 == 0 ? 2 : count, grain: 1) { range in
                for i in range { hits[i] += 1 }
            }
            let expected = round % 3 == 0 ? 2 : count
            #expect((0..<expected).allSatisfy { hits[$0] == 1 }, "round \(round)")
            // Strict dispatches in between still reach every thread exactly once.
            if round % 7 == 0 {
                let seen = UnsafeMutablePointer<Int>.allocate(capacity: 3)
                seen.initialize(repeating: 0, count: 3)
                pool.runOnEveryThread { seen[$0] += 1 }
                #expect(seen[0] == 1 && seen[1] == 1 && seen[2] == 1)
                seen.deallocate()
            }
        }
    }

    // MARK: Thread budget

    /// Runs `parallelFor` over `count` chunks of a little work each; returns, per index, the
    /// thread that ran it.
    static func threadsRunning(_ pool: WorkerPool, count: Int) -> [pthread_t] {
        let owners = UnsafeMutablePointer<pthread_t>.allocate(capacity: count)
        defer { owners.deallocate() }
        pool.parallelFor(count) { range in
            for index in range {
                owners[index] = pthread_self()
                let until = DispatchTime.now().uptimeNanoseconds + 20_000
                while DispatchTime.now().uptimeNanoseconds < until {}
            }
        }
        return Array(UnsafeBufferPointer(start: owners, count: count))
    }

    static func distinct(_ threads: [pthread_t]) -> Int { Set(threads).count }

    @Test func theBudgetIsClampedToThePool() {
        let pool = WorkerPool(threadCount: 3)
        #expect(pool.threadBudget == 3)
        pool.threadBudget = 0
        #expect(pool.threadBudget == 1)
        pool.threadBudget = 99
        #expect(pool.threadBudget == 3)
    }

    @Test(arguments: [1, 2, 3])
    func parallelForKeepsToTheBudget(budget: Int) {
        let pool = WorkerPool(threadCount: 4)
        pool.threadBudget = budget
        for _ in 0..<20 {
            let owners = Self.threadsRunning(pool, count: 64)
            #expect(Self.distinct(owners) <= budget)
            if budget == 1 { #expect(owners.allSatisfy { pthread_equal($0, pthread_self()) != 0 }) }
        }
        // Raised again, the parked workers come back (each dispatch holds ~1.3 ms of work).
        pool.threadBudget = 4
        var seen = Set<pthread_t>()
        for _ in 0..<50 { seen.formUnion(Self.threadsRunning(pool, count: 64)) }
        #expect(seen.count > 1)
    }

    /// A budget changes which thread runs a part, never the parts: the same ranges in any budget.
    @Test func theChunksAreTheSameWhateverTheBudget() {
        let pool = WorkerPool(threadCount: 3)
        func ranges(budget: Int) -> [Range<Int>] {
            pool.threadBudget = budget
            let lock = NSLock()
            var seen: [Range<Int>] = []
            pool.parallelFor(1_000, grain: 37) { range in lock.withLock { seen.append(range) } }
            return seen.sorted { $0.lowerBound < $1.lowerBound }
        }
        let full = ranges(budget: 3)
        #expect(full.count == 28)
        #expect(ranges(budget: 1) == full)
        #expect(ranges(budget: 2) == full)
    }

    @Test func runOnEveryThreadUnderABudgetStillRunsEveryIndexOnce() {
        let pool = WorkerPool(threadCount: 4)
        pool.threadBudget = 2
        let caller = pthread_self()
        let owners = UnsafeMutablePointer<pthread_t>.allocate(capacity: 4)
        let runs = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer {
            owners.deallocate()
            runs.deallocate()
        }
        for _ in 0..<20 {
            runs.initialize(repeating: 0, count: 4)
            pool.runOnEveryThread { index in
                owners[index] = pthread_self()
                runs[index] += 1
            }
            #expect(Array(UnsafeBufferPointer(start: runs, count: 4)) == [1, 1, 1, 1])
            // Indices 2 and 3 are outside the budget: the caller runs them; 1 is a worker's.
            #expect(pthread_equal(owners[0], caller) != 0 && pthread_equal(owners[2], caller) != 0)
            #expect(pthread_equal(owners[3], caller) != 0 && pthread_equal(owners[1], caller) == 0)
        }
    }

    /// A worker outside the budget parks instead of polling for the next job, even inside its
    /// spin window: its core is left to other work.
    @Test func workersOutsideTheBudgetStopPolling() throws {
        let pool = WorkerPool(threadCount: 2, spinMicroseconds: 5_000_000)
        let worker = UnsafeMutablePointer<pthread_t>.allocate(capacity: 1)
        defer { worker.deallocate() }
        pool.runOnEveryThread { index in if index == 1 { worker.pointee = pthread_self() } }
        // The worker now polls for up to 5 s; a budget of 1 must send it to park at once.
        pool.threadBudget = 1
        var clock = clockid_t()
        #expect(pthread_getcpuclockid(worker.pointee, &clock) == 0)
        func cpuSeconds() -> Double {
            var time = timespec()
            clock_gettime(clock, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        usleep(50_000)
        let before = cpuSeconds()
        usleep(300_000)
        let used = cpuSeconds() - before
        #expect(used < 0.02, "the worker outside the budget used \(used) s of CPU in 0.3 s")
        // Back in the budget, it takes part again.
        pool.threadBudget = 2
        let flags = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { flags.deallocate() }
        flags.initialize(repeating: 0, count: 2)
        pool.runOnEveryThread { flags[$0] = 1 }
        #expect(flags[0] == 1 && flags[1] == 1)
    }
}
