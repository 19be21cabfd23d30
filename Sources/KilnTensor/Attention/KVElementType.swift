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

/// A read-only view of one sequence's keys and values for one layer, as pointers and strides, so
/// the cache's owner (KilnText) chooses its layout.
///
/// Element `[position][kvHead][i]` of the keys is at
/// `keys + (position * positionStride + kvHead * headStride + i) * elementType.byteCount`;
/// values likewise (same strides). For a cache laid out `[capacity × kvHeads × headDimension]`,
/// `positionStride = kvHeads * headDimension` and `headStride = headDimension`.
public struct KVCacheView: @unchecked Sendable {
    public var keys: UnsafeRawPointer
    public var values: UnsafeRawPointer
    public var elementType: KVElementType
    /// Elements between consecutive positions.
    public var positionStride: Int
    /// Elements between consecutive KV heads.
    public var headStride: Int

    public init(keys: UnsafeRawPointer, values: UnsafeRawPointer, elementType: KVElementType,
                positionStride: Int, headStride: Int) {
        self.keys = keys
        self.values = values
        self.elementType = elementType
        self.positionStride = positionStride
        self.headStride = headStride
    }

    /// Element `i` of the key of `kvHead` at `position`, as a float.
    @inline(__always)
    func key(_ position: Int, _ kvHead: Int, _ i: Int) -> Float {
        load(keys, position * positionStride + kvHead * headStride + i)
    }

    /// Element `i` of the value of `kvHead` at `position`, as a float.
    @inline(__always)
    func value(_ position: Int, _ kvHead: Int, _ i: Int) -> Float {
        load(values, position * positionStride + kvHead * headStride + i)
    }

    @inline(__always)
    private func load(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        switch elementType {
        case .f32: return base.load(fromByteOffset: index * 4, as: Float.self)
        case .f16: return Float(Float16(bitPattern: base.load(fromByteOffset: index * 2, as: UInt16.self)))
        }
    }
}

/// Head counts and scaling of a grouped-query attention layer.
public struct AttentionShape: Sendable {
    /// Query heads.
    public var headCount: Int
    /// Key/value heads; divides `headCount`. Query head `h` reads KV head `h / (headCount / kvHeadCount)`.
    public var kvHeadCount: Int
    /// Elements per head.
    public var headDimension: Int
    /// Multiplier of `q·k` before the softmax, usually `1 / sqrt(headDimension)`.
    public var scale: Float

    public init(headCount: Int, kvHeadCount: Int, headDimension: Int, scale: Float? = nil) {
        precondition(headCount > 0 && kvHeadCount > 0 && headCount % kvHeadCount == 0,
                     "AttentionShape: \(headCount) query heads do not group over \(kvHeadCount) KV heads")
        precondition(headDimension > 0, "AttentionShape: head dimension must be positive")
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.scale = scale ?? 1 / Float(headDimension).squareRoot()
    }
}
