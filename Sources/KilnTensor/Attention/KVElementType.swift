/// How keys and values are stored in a KV cache.
public enum KVElementType: Sendable {
    /// 32-bit floats.
    case f32
    /// IEEE half floats (as llama.cpp's default cache): half the memory and bandwidth, and the same
    /// rounding llama.cpp applies to its keys and values. Store with `Elementwise.convertToHalf`.
    case f16

    /// Bytes per element.
    public var byteCount: Int { self == .f32 ? 4 : 2 }
}
