/// Writes GGUF bytes for tests, including deliberately broken ones: every field can be overridden
/// with a raw value so that crafted files can lie about counts, lengths and offsets.
struct GGUFBuilder {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }

    mutating func header(version: UInt32 = 3, tensors: UInt64, metadata: UInt64) {
        bytes += Array("GGUF".utf8)
        u32(version)
        u64(tensors)
        u64(metadata)
    }

    mutating func keyString(_ key: String, _ value: String) {
        string(key)
        u32(8)
        string(value)
    }
    mutating func keyU32(_ key: String, _ value: UInt32) {
        string(key)
        u32(4)
        u32(value)
    }

    mutating func tensorInfo(_ name: String, dims: [Int64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { i64(d) }
        u32(type)
        u64(offset)
    }

    /// Pads to `alignment` (the start of the data section), then appends `count` data bytes.
    mutating func data(count: Int, alignment: Int = 32) {
        while bytes.count % alignment != 0 { u8(0) }
        bytes += [UInt8](repeating: 0x3C, count: count)
    }
}
