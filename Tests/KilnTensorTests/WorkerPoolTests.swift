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
}
