/// Why a gzip operation failed.
///
/// The server maps these to statuses: `outputTooLarge` is a body over the limit (413), `malformed`
/// and `truncated` are a bad request body (400).
public enum GzipError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The decompressed output would exceed the configured maximum (a decompression bomb or simply
    /// a body that is too large once inflated).
    case outputTooLarge(limit: Int)
    /// The input is not valid gzip data (bad magic, bad header, corrupt deflate data, bad CRC or
    /// length in the trailer, garbage after a member). `reason` is zlib's own message.
    case malformed(reason: String)
    /// The input ended in the middle of a gzip member.
    case truncated
    /// zlib could not allocate its state; only happens when the process is out of memory.
    case zlibFailure(code: Int32)

    public var description: String {
        switch self {
        case .outputTooLarge(let limit):
            return "gzip: decompressed data exceeds the limit of \(limit) bytes"
        case .malformed(let reason):
            return "gzip: malformed data (\(reason))"
        case .truncated:
            return "gzip: data ends in the middle of a gzip member"
        case .zlibFailure(let code):
            return "gzip: zlib failed with code \(code)"
        }
    }
}
