import KilnFormats

/// Plain-Swift dequantization of GGML blocks to `Float`: the reference every faster kernel is tested
/// against. It equals the `gguf` Python package's `gguf.quants.dequantize` bit for bit (checked by the
/// fixtures in Tests/Fixtures/quant/): every product and sum is done in `Float` in the same order as
/// that package, one rounding per operation, with no fused multiply-add.
///
/// Block layouts (little-endian, `d`/`m`/`dmin` are IEEE half floats unless noted):
/// - `q4_0` (18 B / 32): `d`, 16 B nibbles; element j < 16 is the low nibble of byte j, element
///   j + 16 its high nibble; value = d · (q − 8).
/// - `q4_1` (20 B / 32): `d`, `m`, nibbles as q4_0; value = d · q + m.
/// - `q5_0` (22 B / 32): `d`, 32-bit `qh` (bit j is element j's fifth bit), nibbles; value = d · (q − 16).
/// - `q5_1` (24 B / 32): `d`, `m`, `qh`, nibbles; value = d · q + m.
/// - `q8_0` (34 B / 32): `d`, 32 signed bytes; value = q · d.
/// - `q4_K` (144 B / 256): `d`, `dmin`, 12 B of packed 6-bit scales and mins for 8 sub-blocks of 32,
///   128 B nibbles (32 bytes per pair of sub-blocks: low nibbles first); value = (d·sc)·q − dmin·m.
/// - `q5_K` (176 B / 256): as q4_K plus 32 B `qh` (bit s of byte i is the fifth bit of sub-block s, item i).
/// - `q6_K` (210 B / 256): 128 B low nibbles, 64 B high 2-bit pairs, 16 signed 8-bit scales (one per
///   16 elements), `d`; value = (d·scale)·(q − 32).
/// - `q2_K`, `q3_K`, `iq4_nl`, `iq4_xs`: see Dequantization+LowBitQuants.swift.
/// - `f32`, `f16`, `bf16`: one element per "block".
public enum Dequantization {
    /// Whether `dequantize` accepts `type`.
    public static func isSupported(_ type: GGMLType) -> Bool {
        switch type {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K: return true
        case .q2_K, .q3_K, .iq4_nl, .iq4_xs: return true
        default: return false
        }
    }

    /// Dequantizes `count` consecutive elements stored at `source` in `type`'s layout.
    ///
    /// - Parameters:
    ///   - source: the first block; `count / type.blockSize * type.typeSize` bytes are read.
    ///   - count: element count, a multiple of `type.blockSize`.
    ///   - destination: `[count]` floats, written.
    /// - Precondition: `isSupported(type)` and `count` is a whole number of blocks.
    public static func dequantize(
        _ type: GGMLType, from source: UnsafeRawPointer, count: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        precondition(isSupported(type), "dequantize: unsupported type \(type)")
        precondition(
            count >= 0 && count % type.blockSize == 0,
            "dequantize: \(count) elements is not a whole number of \(type) blocks")
        let blockCount = count / type.blockSize
        for block in 0..<blockCount {
            let input = source + block * type.typeSize
            let output = destination + block * type.blockSize
            switch type {
            case .f32: output.pointee = input.loadUnaligned(as: Float.self)
            case .f16: output.pointee = halfToFloat(input.loadUnaligned(as: UInt16.self))
            case .bf16: output.pointee = Float(bitPattern: UInt32(input.loadUnaligned(as: UInt16.self)) << 16)
            case .q4_0: dequantizeQ4_0(input, output)
            case .q4_1: dequantizeQ4_1(input, output)
            case .q5_0: dequantizeQ5_0(input, output)
            case .q5_1: dequantizeQ5_1(input, output)
            case .q8_0: dequantizeQ8_0(input, output)
            case .q4_K: dequantizeQ4_K(input, output)
            case .q5_K: dequantizeQ5_K(input, output)
            case .q6_K: dequantizeQ6_K(input, output)
            case .q2_K: dequantizeQ2_K(input, output)
            case .q3_K: dequantizeQ3_K(input, output)
            case .iq4_nl: dequantizeIQ4_NL(input, output)
            case .iq4_xs: dequantizeIQ4_XS(input, output)
            default: preconditionFailure("unreachable: checked by isSupported")
            }
        }
    }

    /// Exact IEEE half → single conversion.
    @inline(__always)
    static func halfToFloat(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    @inline(__always)
    static func half(_ pointer: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(pointer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func byte(_ pointer: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        pointer.load(fromByteOffset: offset, as: UInt8.self)
    }

    static func dequantizeQ4_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        for j in 0..<16 {
            let packed = byte(block, 2 + j)
            out[j] = d * Float(Int(packed & 0x0F) - 8)
            out[j + 16] = d * Float(Int(packed >> 4) - 8)
        }
    }

    static func dequantizeQ4_1(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), m = half(block, 2)
        for j in 0..<16 {
            let packed = byte(block, 4 + j)
            out[j] = d * Float(packed & 0x0F) + m
            out[j + 16] = d * Float(packed >> 4) + m
        }
    }

    static func dequantizeQ5_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        let high = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        for j in 0..<16 {
            let packed = byte(block, 6 + j)
            let low0 = UInt32(packed & 0x0F) | ((high >> UInt32(j)) & 1) << 4
            let low1 = UInt32(packed >> 4) | ((high >> UInt32(j + 16)) & 1) << 4
            out[j] = d * Float(Int(low0) - 16)
            out[j + 16] = d * Float(Int(low1) - 16)
        }
    }

    static func dequantizeQ5_1(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), m = half(block, 2)
        let high = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        for j in 0..<16 {
            let packed = byte(block, 8 + j)
            let q0 = UInt32(packed & 0x0F) | ((high >> UInt32(j)) & 1) << 4
            let q1 = UInt32(packed >> 4) | ((high >> UInt32(j + 16)) & 1) << 4
            out[j] = d * Float(q0) + m
            out[j + 16] = d * Float(q1) + m
        }
    }

    static func dequantizeQ8_0(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        for j in 0..<32 {
            out[j] = Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) * d
        }
    }
}
