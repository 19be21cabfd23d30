import ArgumentParser
import Foundation
import KilnFormats
import KilnTensor

/// `kiln bench-kernels`: matmul speed per weight type on SmolLM2-135M's matrix shapes, and the
/// worker pool's dispatch cost. Prints medians; asserts nothing.
struct BenchKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Measure matmul kernels (GB/s per weight type) and the worker pool's dispatch cost.")

    @Option(name: [.short, .customLong("threads")], help: "Threads per kernel, the caller included.")
    var threads = 2

    @Option(name: [.short, .customLong("repeats")], help: "Timed runs per measurement (the median is printed).")
    var repeats = 15

    @Option(name: .customLong("types"), help: "Comma-separated weight types, e.g. Q4_1,Q8_0 (default: all).")
    var types: String?

    @Option(name: .customLong("batch"), help: "Activation rows for the batched (prefill) measurement; 0 skips it.")
    var batch = 512

    @Flag(
        name: .customLong("cpu-time"),
        help:
            "Time with the calling thread's CPU clock instead of the wall clock (with -t 1: kernel speed undisturbed by other processes on a busy machine)."
    )
    var cpuTime = false

    @Flag(name: .customLong("hot"), help: "Reuse one copy of each matrix (cache-resident) instead of streaming copies from memory.")
    var hot = false

    @Option(
        name: .customLong("shapes"),
        help: "Comma-separated matrix shapes ROWSxCOLUMNS, e.g. 896x896,4864x896 (default: SmolLM2-135M's).")
    var shapeList: String?

    @Flag(
        name: .customLong("bandwidth"),
        help: "Measure only the memory read bandwidth (1 GiB summed by 1 thread, then by --threads threads).")
    var bandwidth = false

    @Flag(name: .customLong("no-avx512"), help: "Use the AVX2 kernel bodies even where the CPU has AVX-512 (for comparisons).")
    var noAVX512 = false

    /// SmolLM2-135M's matrices, rows × columns: attention q/o, feed-forward gate/up, down, output.
    static let shapes: [(rows: Int, columns: Int)] = [(576, 576), (1536, 576), (576, 1536), (49152, 576)]
    static let allTypes: [GGMLType] = [.q4_1, .q8_0, .q4_0, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .f16, .bf16, .f32]

    func run() throws {
        if noAVX512 { Matmul.wideVectorsEnabled = false }
        guard threads >= 1, repeats >= 1, batch >= 0 else {
            throw ValidationError("threads and repeats must be at least 1, batch at least 0")
        }
        guard !cpuTime || threads == 1 else { throw ValidationError("--cpu-time measures one thread: use it with -t 1") }
        let selected = try selectedTypes()
        let shapes = try selectedShapes()
        let pool = WorkerPool(threadCount: threads)
        if bandwidth {
            for count in Set([1, threads]).sorted() {
                let rate = MemoryBandwidth.measure(pool: count == threads ? pool : WorkerPool(threadCount: count), repeats: repeats)
                print(
                    String(
                        format: "memory read bandwidth, %d thread(s): %.1f GB/s median, %.1f best (%d passes over 1 GiB)", count, rate.median,
                        rate.best, repeats))
            }
            return
        }
        print(
            "kiln bench-kernels: \(threads) thread(s), \(Matmul.wideVectorsEnabled ? "AVX-512 bodies" : "AVX2 bodies"), \(cpuTime ? "thread CPU time" : "wall time"), median of \(repeats) runs, weights \(hot ? "cache-resident" : "streamed from memory (copies rotated past the caches)")"
        )
        measureDispatch(pool)
        measureAttention()
        let workspace = MatmulWorkspace(maxBatch: max(batch, 1), maxColumns: shapes.map(\.columns).max() ?? 1536)
        print("\nmatvec (batch 1): GB/s of weights read  |  batch \(batch): GMAC/s  (int = 8-bit activations, float = f32 activations)")
        print("type  shape      path  GB/s med  best  µs/matvec   GMAC/s med  best")
        for type in selected {
            for shape in shapes where shape.columns % type.blockSize == 0 {
                let matrices = try BenchMatrices(type: type, rows: shape.rows, columns: shape.columns, streamed: !hot)
                let paths: [(String, Matmul.KernelPath)] =
                    [.q4_1, .q8_0].contains(type)
                    ? [("int", .automatic), ("float", .floatActivations)]
                    : [(type == .f16 || type == .f32 || type == .bf16 ? "float" : "int", .automatic)]
                for (name, path) in paths {
                    let single = measure(matrices, batch: 1, pool: pool, workspace: workspace, path: path)
                    let bytes = Double(matrices.bytesPerMatrix)
                    var batched = "     -       -"
                    if batch > 0 {
                        let seconds = measure(matrices, batch: batch, pool: pool, workspace: workspace, path: path)
                        let macs = Double(shape.rows * shape.columns * batch)
                        batched = String(format: "%6.1f  %6.1f", macs / seconds.median / 1e9, macs / seconds.best / 1e9)
                    }
                    print(
                        String(
                            format: "%-5@ %-10@ %-5@ %7.2f %7.2f %9.1f   %@", type.description as NSString,
                            "\(shape.rows)×\(shape.columns)" as NSString, name as NSString,
                            bytes / single.median / 1e9, bytes / single.best / 1e9, single.median * 1e6,
                            batched as NSString))
                }
            }
        }
    }

    private func selectedTypes() throws -> [GGMLType] {
        guard let types else { return Self.allTypes }
        return try types.split(separator: ",").map { name in
            guard let type = Self.allTypes.first(where: { $0.description.caseInsensitiveCompare(String(name)) == .orderedSame }) else {
                throw ValidationError("unknown type \(name); known: \(Self.allTypes.map(\.description).joined(separator: ","))")
            }
            return type
        }
    }

    private func selectedShapes() throws -> [(rows: Int, columns: Int)] {
        guard let shapeList else { return Self.shapes }
        return try shapeList.split(separator: ",").map { item in
            let parts = item.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...1_000_000).contains($0) }) else {
                throw ValidationError("shape \(item) is not ROWSxCOLUMNS")
            }
            return (parts[0], parts[1])
        }
    }

    /// Median and fastest seconds of one matmul, each run on the next copy of the matrix.
    private func measure(
        _ matrices: BenchMatrices, batch: Int, pool: WorkerPool, workspace: MatmulWorkspace,
        path: Matmul.KernelPath
    ) -> (median: Double, best: Double) {
        let columns = matrices.columns, rows = matrices.rows
        let input = UnsafeMutablePointer<Float>.allocate(capacity: batch * columns)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: batch * rows)
        defer {
            input.deallocate()
            output.deallocate()
        }
        for i in 0..<batch * columns { input[i] = Float(i % 97) / 97 - 0.5 }
        var next = 0
        func once() {
            Matmul.multiply(
                matrices.views[next], input: input, batch: batch, output: output, pool: pool,
                workspace: workspace, path: path)
            next = (next + 1) % matrices.views.count
        }
        once()
        // Several runs per sample for small matrices, so timer resolution does not matter.
        let perSample = max(1, min(matrices.views.count, 2_000_000 / max(matrices.bytesPerMatrix * batch, 1)))
        var samples: [Double] = []
        for _ in 0..<repeats {
            let start = now()
            for _ in 0..<perSample { once() }
            samples.append(Double(now() - start) / 1e9 / Double(perSample))
        }
        samples.sort()
        return (samples[samples.count / 2], samples[0])
    }

    /// One query head over 512 cached positions (head dimension 64), f32 and f16 caches, fed as one
    /// span or as 16-position spans (a paged cache's blocks). Single thread.
    private func measureAttention() {
        let dimension = 64, length = 512
        let keys = UnsafeMutablePointer<Float>.allocate(capacity: length * dimension)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: length * dimension)
        let halfKeys = UnsafeMutablePointer<UInt16>.allocate(capacity: length * dimension)
        let halfValues = UnsafeMutablePointer<UInt16>.allocate(capacity: length * dimension)
        let query = UnsafeMutablePointer<Float>.allocate(capacity: dimension)
        let state = UnsafeMutablePointer<Float>.allocate(capacity: Attention.stateSize(headDimension: dimension))
        defer {
            [keys, values, query, state].forEach { $0.deallocate() }
            halfKeys.deallocate()
            halfValues.deallocate()
        }
        for i in 0..<length * dimension {
            keys[i] = Float((i * 37) % 101) / 101 - 0.5
            values[i] = Float((i * 53) % 103) / 103 - 0.5
        }
        for i in 0..<dimension { query[i] = Float(i % 7) / 7 }
        Elementwise.convertToHalf(keys, count: length * dimension, into: halfKeys)
        Elementwise.convertToHalf(values, count: length * dimension, into: halfValues)
        var line = "attention (1 head × 512 positions, dim 64, 1 thread):"
        for (name, k, v, type) in [
            ("f32", UnsafeRawPointer(keys), UnsafeRawPointer(values), KVElementType.f32),
            ("f16", UnsafeRawPointer(halfKeys), UnsafeRawPointer(halfValues), KVElementType.f16),
        ] {
            for span in [length, 16] {
                var samples: [Double] = []
                for _ in 0..<max(repeats, 5) {
                    let start = now()
                    for _ in 0..<200 {
                        Attention.begin(state: state, headDimension: dimension)
                        var position = 0
                        while position < length {
                            let count = min(span, length - position)
                            Attention.accumulate(
                                query: query, keys: k + position * dimension * type.byteCount,
                                values: v + position * dimension * type.byteCount, elementType: type,
                                positionStride: dimension, count: count, headDimension: dimension,
                                scale: 0.125, state: state)
                            position += count
                        }
                    }
                    samples.append(Double(now() - start) / 1e9 / 200)
                }
                let seconds = samples.sorted()[samples.count / 2]
                line += String(format: " %@ span %d: %.1f GMAC/s;", name as NSString, span, Double(2 * length * dimension) / seconds / 1e9)
            }
        }
        print(line)
    }

    /// Nanoseconds on the clock the options chose.
    private func now() -> UInt64 {
        guard cpuTime else { return DispatchTime.now().uptimeNanoseconds }
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Round-trip cost of an empty dispatch and of a 18-chunk parallelFor, in microseconds.
    private func measureDispatch(_ pool: WorkerPool) {
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { counter.deallocate() }
        counter.initialize(repeating: 0, count: 64)
        func median(_ body: () -> Void) -> Double {
            var samples: [Double] = []
            for _ in 0..<max(repeats, 5) {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<10_000 { body() }
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 10_000 / 1e3)
            }
            return samples.sorted()[samples.count / 2]
        }
        let empty = median { pool.runOnEveryThread { counter[$0 * 8] &+= 1 } }
        let chunks = median { pool.parallelFor(18) { range in counter[range.lowerBound % 8 * 8] &+= 1 } }
        print(String(format: "pool dispatch: %.2f µs per empty runOnEveryThread, %.2f µs per parallelFor of 18 chunks", empty, chunks))
    }
}

/// Copies of one random weight matrix: enough of them (64 MB in all) that cycling through them
/// reads from memory, as a decode step over a whole model does, rather than from the caches.
final class BenchMatrices {
    let rows: Int, columns: Int, bytesPerMatrix: Int
    let views: [WeightMatrix]
    private let storage: UnsafeMutableRawBufferPointer

    init(type: GGMLType, rows: Int, columns: Int, streamed: Bool) throws {
        self.rows = rows
        self.columns = columns
        bytesPerMatrix = rows * columns / type.blockSize * type.typeSize
        let copies = streamed ? max(1, (64 << 20) / bytesPerMatrix + 1) : 1
        storage = .allocate(byteCount: copies * bytesPerMatrix, alignment: 64)
        var state: UInt64 = 0x1234_5678_9ABC_DEF0
        for i in 0..<storage.count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            storage[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        Self.sanitize(storage, type: type)
        let whole = UnsafeRawBufferPointer(storage), size = bytesPerMatrix
        views = try (0..<copies).map { copy in
            try WeightMatrix(
                type: type, rows: rows, columns: columns,
                bytes: UnsafeRawBufferPointer(rebasing: whole[copy * size..<(copy + 1) * size]))
        }
    }

    deinit { storage.deallocate() }

    /// Random bytes make NaN and infinite half/float scales; give every scale field a modest value.
    private static func sanitize(_ bytes: UnsafeMutableRawBufferPointer, type: GGMLType) {
        let scaleBits: UInt16 = 0x2000  // 0.0078125
        func put(_ offset: Int) { bytes.storeBytes(of: scaleBits, toByteOffset: offset, as: UInt16.self) }
        let blocks = bytes.count / type.typeSize
        switch type {
        case .f32: for e in 0..<blocks { bytes.storeBytes(of: Float(e % 13) * 0.01, toByteOffset: 4 * e, as: Float.self) }
        case .f16, .bf16: for e in 0..<blocks { put(2 * e) }
        case .q6_K: for b in 0..<blocks { put(b * type.typeSize + 208) }
        case .q4_1, .q5_1, .q4_K, .q5_K:
            for b in 0..<blocks {
                put(b * type.typeSize)
                put(b * type.typeSize + 2)
            }
        default: for b in 0..<blocks { put(b * type.typeSize) }
        }
    }
}
