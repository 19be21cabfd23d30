import KilnFormats

/// Dequantization of the low-bit GGML types that have no integer kernel in Kiln: `q2_K`, `q3_K`,
/// `iq4_nl` and `iq4_xs`. Like the other types, every product and difference is one `Float`
/// operation in the order `gguf.quants.dequantize` uses, so the results match it bit for bit.
///
/// Block layouts (little-endian; `d`/`dmin` are IEEE half floats):
/// - `q2_K` (84 B / 256): 16 B of scales (low nibble: scale, high nibble: min, one byte per 16
///   elements), 64 B of 2-bit quants, `d`, `dmin`; value = (d·scale)·q − dmin·min.
/// - `q3_K` (110 B / 256): 32 B `hmask`, 64 B of 2-bit quants, 12 B of packed 6-bit scales (one per
///   16 elements, offset by 32), `d`; value = (d·scale)·(q − 4·(1 − hbit)).
/// - `iq4_nl` (18 B / 32): `d`, 16 B of nibbles laid out as q4_0's; each nibble indexes the
///   non-linear table `iq4Values`; value = d·table[q].
/// - `iq4_xs` (136 B / 256): `d`, 16-bit `scales_h` (two top bits per sub-block of 32), 4 B
///   `scales_l` (one nibble per sub-block), 128 B of nibbles (16 B per sub-block, laid out as
///   iq4_nl's); value = (d·(scale − 32))·table[q].
extension Dequantization {
    /// The sixteen values a 4-bit `iq4_nl`/`iq4_xs` index selects (llama.cpp's `kvalues_iq4nl`).
    static let iq4Values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// The 2-bit quant of element `element` (0..<256) of a q2_K/q3_K block whose 64 quant bytes start
    /// at `quants`: each 128-element half uses 32 bytes, and the four 32-element groups of a half
    /// take successive bit pairs of those bytes (bits 0–1 first).
    @inline(__always)
    static func twoBitQuant(_ quants: UnsafeRawPointer, _ element: Int) -> UInt8 {
        let half128 = element / 128, within = element % 128
        let shift = UInt8((within / 32) * 2)
        return (byte(quants, half128 * 32 + within % 32) >> shift) & 0x03
    }

    static func dequantizeQ2_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let scales = block, quants = block + 16
        let d = half(block, 80), dmin = half(block, 82)
        for sub in 0..<16 {
            let packed = byte(scales, sub)
            let factor = d * Float(packed & 0x0F), offset = dmin * Float(packed >> 4)
            for i in 0..<16 {
                let element = sub * 16 + i
                out[element] = factor * Float(twoBitQuant(quants, element)) - offset
            }
        }
    }

    /// The signed 6-bit scale of sub-block `index` (0..<16) of a q3_K block, from the 12 packed bytes at
    /// `scales`: the low four bits are the low nibbles of bytes 0–7 (sub-blocks 0–7) then their high
    /// nibbles (8–15); the top two bits come from bytes 8–11, bit pair `index / 4` of byte
    /// `8 + index % 4`. The stored value is offset by 32.
    @inline(__always)
    static func q3KScale(_ scales: UnsafeRawPointer, _ index: Int) -> Int {
        let lowShift = UInt8((index / 8) * 4)
        let low = (byte(scales, index % 8) >> lowShift) & 0x0F
        let high = (byte(scales, 8 + index % 4) >> UInt8((index / 4) * 2)) & 0x03
        return Int(low | high << 4) - 32
    }

    static func dequantizeQ3_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let highMask = block, quants = block + 32, scales = block + 96
        let d = half(block, 108)
        for sub in 0..<16 {
            let factor = d * Float(q3KScale(scales, sub))
            for i in 0..<16 {
                let element = sub * 16 + i
                // A clear mask bit means "subtract 4": the third bit is stored inverted.
                let maskBit = (byte(highMask, element % 32) >> UInt8(element / 32)) & 1
                let q = Int(twoBitQuant(quants, element)) - (maskBit == 0 ? 4 : 0)
                out[element] = factor * Float(q)
            }
        }
    }

    /// Writes the 32 table values of one iq4 nibble run (16 bytes: low nibbles are elements 0–15,
    /// high nibbles 16–31), each scaled by `factor`.
    @inline(__always)
    static func dequantizeIQ4Run(
        _ nibbles: UnsafeRawPointer, factor: Float, _ out: UnsafeMutablePointer<Float>
    ) {
        iq4Values.withUnsafeBufferPointer { table in
            for j in 0..<16 {
                let packed = byte(nibbles, j)
                out[j] = factor * Float(table[Int(packed & 0x0F)])
                out[j + 16] = factor * Float(table[Int(packed >> 4)])
            }
        }
    }

    static func dequantizeIQ4_NL(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        dequantizeIQ4Run(block + 2, factor: half(block, 0), out)
    }

    static func dequantizeIQ4_XS(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0)
        let scalesHigh = block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        let scalesLow = block + 4, nibbles = block + 8
        for sub in 0..<8 {
            let low = (byte(scalesLow, sub / 2) >> UInt8((sub % 2) * 4)) & 0x0F
            let high = UInt8(truncatingIfNeeded: scalesHigh >> UInt16(2 * sub)) & 0x03
            let scale = Int(low | high << 4) - 32
            dequantizeIQ4Run(nibbles + sub * 16, factor: d * Float(scale), out + sub * 32)
        }
    }
}
