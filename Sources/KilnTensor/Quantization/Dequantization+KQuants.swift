import KilnFormats

extension Dequantization {
    /// The 6-bit scale and min of sub-block `index` (0..<8) of a q4_K/q5_K block, from the 12 packed
    /// bytes at `scales`: sub-blocks 0–3 keep their low six bits in bytes 0–3 (scale) and 4–7 (min);
    /// sub-blocks 4–7 put their low four bits in bytes 8–11 and their top two bits in the spare top
    /// bits of bytes 0–7.
    @inline(__always)
    static func scaleAndMin(_ scales: UnsafeRawPointer, _ index: Int) -> (scale: UInt8, min: UInt8) {
        if index < 4 {
            return (byte(scales, index) & 0x3F, byte(scales, index + 4) & 0x3F)
        }
        let j = index - 4
        let packed = byte(scales, 8 + j)
        let scale = (packed & 0x0F) | ((byte(scales, j) >> 2) & 0x30)
        let min = (packed >> 4) | ((byte(scales, j + 4) >> 2) & 0x30)
        return (scale, min)
    }

    static func dequantizeQ4_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), dmin = half(block, 2)
        let scales = block + 4, quants = block + 16
        for sub in 0..<8 {
            let (scale, min) = scaleAndMin(scales, sub)
            let factor = d * Float(scale), offset = dmin * Float(min)
            let bytes = quants + (sub / 2) * 32
            let shift: UInt8 = sub % 2 == 0 ? 0 : 4
            for i in 0..<32 {
                let q = (byte(bytes, i) >> shift) & 0x0F
                out[sub * 32 + i] = factor * Float(q) - offset
            }
        }
    }

    static func dequantizeQ5_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let d = half(block, 0), dmin = half(block, 2)
        let scales = block + 4, highBits = block + 16, quants = block + 48
        for sub in 0..<8 {
            let (scale, min) = scaleAndMin(scales, sub)
            let factor = d * Float(scale), offset = dmin * Float(min)
            let bytes = quants + (sub / 2) * 32
            let shift: UInt8 = sub % 2 == 0 ? 0 : 4
            for i in 0..<32 {
                let low = (byte(bytes, i) >> shift) & 0x0F
                let high = (byte(highBits, i) >> UInt8(sub)) & 1
                out[sub * 32 + i] = factor * Float(low | high << 4) - offset
            }
        }
    }

    static func dequantizeQ6_K(_ block: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>) {
        let low = block, high = block + 128, scales = block + 192
        let d = half(block, 208)
        for element in 0..<256 {
            let half128 = element / 128, within = element % 128
            let nibbleShift = UInt8((within / 64) * 4)
            let lowBits = (byte(low, half128 * 64 + within % 64) >> nibbleShift) & 0x0F
            let pairShift = UInt8((within / 32) * 2)
            let highBits = (byte(high, half128 * 32 + within % 32) >> pairShift) & 0x03
            let q = Int(lowBits | highBits << 4) - 32
            let scale = Float(scales.load(fromByteOffset: element / 16, as: Int8.self))
            out[element] = (d * scale) * Float(q)
        }
    }
}
