import Foundation
import KilnTensor

/// The machine's memory read bandwidth, for `kiln bench-kernels --bandwidth`: every thread of a pool
/// sums its share of a buffer far larger than the caches with wide integer adds (nothing but loads
/// and adds, so the loads are the limit), and the bytes read over the wall time of a whole pass are
/// the bandwidth. Decode reads every weight once per token, so this bounds its speed at
/// bandwidth ÷ bytes of weights read per token.
struct MemoryBandwidth {
    /// Bytes in the buffer: 1 GiB, far beyond any last-level cache.
    static let bufferBytes = 1 << 30

    /// Median and best GB/s of `repeats` full passes over the buffer with `pool`'s threads.
    static func measure(pool: WorkerPool, repeats: Int) -> (median: Double, best: Double) {
        typealias Lanes = SIMD8<UInt64>
        let count = bufferBytes / MemoryLayout<Lanes>.stride
        let buffer = UnsafeMutablePointer<Lanes>.allocate(capacity: count)
        defer { buffer.deallocate() }
        // Written once, so that every page is mapped before timing.
        for i in 0..<count { buffer[i] = Lanes(repeating: UInt64(truncatingIfNeeded: i)) }
        let sums = UnsafeMutablePointer<Lanes>.allocate(capacity: pool.threadCount * 2)
        defer { sums.deallocate() }
        sums.initialize(repeating: Lanes(), count: pool.threadCount * 2)
        let share = count / pool.threadCount / 4 * 4
        var samples: [Double] = []
        for _ in 0..<(repeats + 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            pool.parallelFor(pool.threadCount) { range in
                for part in range {
                    // Two sums per thread, two 64-byte lines per step each, so the adds never wait.
                    var first = Lanes(), second = Lanes()
                    var i = part * share
                    let end = i + share
                    while i < end {
                        first &+= buffer[i] &+ buffer[i + 1]
                        second &+= buffer[i + 2] &+ buffer[i + 3]
                        i += 4
                    }
                    sums[part * 2] &+= first &+ second
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            samples.append(Double(share * pool.threadCount * MemoryLayout<Lanes>.stride) / seconds / 1e9)
        }
        // The first pass warms the pool and the TLB; the sums are kept alive by reading them.
        samples.removeFirst()
        var checksum: UInt64 = 0
        for t in 0..<pool.threadCount { checksum &+= sums[t * 2].wrappedSum() }
        if checksum == 1 { print("") }
        samples.sort()
        return (samples[samples.count / 2], samples[samples.count - 1])
    }
}
