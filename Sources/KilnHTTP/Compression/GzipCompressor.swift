/// One-shot gzip compression of a whole response body.
///
/// The output is a single gzip member (RFC 1952: zlib `deflateInit2` with windowBits 15 + 16), which
/// any gzip decoder (browsers, curl, Python's `gzip`, `gzip -d`) reads. For bodies produced piece by
/// piece (streams), use `GzipStreamCompressor` instead of buffering.
public enum GzipCompressor {
    /// Compresses `bytes` into one gzip member.
    /// - Parameter level: 0 (store) … 9 (smallest); 6 is zlib's default balance of speed and size.
    ///   Values outside -1…9 are clamped (-1 means zlib's default).
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        bytes.withUnsafeBytes { compress($0, level: level) }
    }

    /// Compresses raw memory into one gzip member; see `compress(_:level:)`.
    public static func compress(_ bytes: UnsafeRawBufferPointer, level: Int32 = 6) -> [UInt8] {
        let compressor = GzipStreamCompressor(level: level)
        var output = compressor.compress(bytes)
        output.append(contentsOf: compressor.finish())
        return output
    }
}
