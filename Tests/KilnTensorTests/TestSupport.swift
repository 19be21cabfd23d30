import KilnFormats
import KilnTensor

/// SplitMix64: a tiny seeded generator so every test's random data is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `-1 ..< 1` (times `scale`).
    mutating func float(_ scale: Float = 1) -> Float { Float.random(in: -1..<1, using: &self) * scale }
    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in float(scale) } }
}

/// Byte offsets of the half-float scale fields inside one block of `type`.
func halfFieldOffsets(_ type: GGMLType) -> [Int] {
    switch type {
    case .q4_0, .q5_0, .q8_0, .iq4_nl, .iq4_xs: return [0]
    case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
    case .q6_K: return [208]
    case .q2_K: return [80, 82]
    case .q3_K: return [108]
    default: return []
    }
}

/// Random but well-formed weight bytes: random quants, and scale fields set to modest finite
/// halves (random bytes there would give NaN/infinity or absurd magnitudes).
func randomWeightBytes(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    var rng = SeededGenerator(seed: seed)
    let blocks = rows * columns / type.blockSize
    var bytes = [UInt8](repeating: 0, count: blocks * type.typeSize)
    for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
    func putHalf(_ value: Float, at offset: Int) {
        let bits = Float16(value).bitPattern
        bytes[offset] = UInt8(bits & 0xFF)
        bytes[offset + 1] = UInt8(bits >> 8)
    }
    switch type {
    case .f32:
        for e in 0..<blocks {
            let bits = rng.float().bitPattern
            for k in 0..<4 { bytes[4 * e + k] = UInt8((bits >> (8 * UInt32(k))) & 0xFF) }
        }
    case .f16:
        for e in 0..<blocks { putHalf(rng.float(), at: 2 * e) }
    case .bf16:
        for e in 0..<blocks {
            let bits = rng.float().bitPattern >> 16
            bytes[2 * e] = UInt8(bits & 0xFF)
            bytes[2 * e + 1] = UInt8(bits >> 8)
        }
    default:
        for block in 0..<blocks {
            for (n, offset) in halfFieldOffsets(type).enumerated() {
                // Second field of _1 types is a min/offset (any sign); K-quant dmin is positive.
                let value: Float =
                    n == 0
                    ? Float.random(in: 0.002..<0.03, using: &rng)
                    : (type == .q4_1 || type == .q5_1 ? rng.float(0.2) : Float.random(in: 0.001..<0.02, using: &rng))
                putHalf(value, at: block * type.typeSize + offset)
            }
        }
    }
    return bytes
}

/// Owns weight bytes and the `WeightMatrix` view over them.
final class TestMatrix {
    let bytes: UnsafeMutableRawBufferPointer
    let matrix: WeightMatrix
    init(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) throws {
        let source = randomWeightBytes(type, rows: rows, columns: columns, seed: seed)
        bytes = .allocate(byteCount: source.count, alignment: 64)
        bytes.copyBytes(from: source)
        matrix = try WeightMatrix(type: type, rows: rows, columns: columns, bytes: UnsafeRawBufferPointer(bytes))
    }
    deinit { bytes.deallocate() }
}

/// The kernel context the float-kernel tests run on: a pool of one thread per core and the default
/// settings (as `ImagePipeline` builds by default).
let testKernels = KernelContext()

/// A small deterministic generator for the float kernels' test inputs, uniform in [-1, 1].
struct TestRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2_000_001) / 1_000_000 - 1
    }
    mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

/// The largest absolute difference of two arrays of one size.
func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "compared arrays differ in size: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
