extension Array where Element == Float {
    /// `count` floats, every one written by `fill`: for kernel outputs, which would otherwise be
    /// zero-filled first (at 512 px a feed-forward output is 168 MB, so the zeroing alone is
    /// ~1% of a UNet step).
    public static func filled(_ count: Int, by fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { fill(buffer.baseAddress!) }
            initialized = count
        }
    }
}
