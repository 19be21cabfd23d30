import CZlib

/// Incremental, size-limited gzip decompression for request bodies sent with
/// `Content-Encoding: gzip`.
///
/// Feed the compressed body in pieces as it arrives with `decompress(_:)`; each call returns the
/// plaintext that became available. When the body is complete call `finish()`, which throws
/// `GzipError.truncated` if the data stopped inside a gzip member. For a body already in memory,
/// `GzipDecompressor.decompress(_:maxOutputBytes:)` does both in one call.
///
/// The limit is on the *decompressed* size across all calls. The decompressor never inflates more
/// than `maxOutputBytes + 1` bytes: each inflate call is given at most one byte more room than the
/// limit leaves, so a decompression bomb fails with `GzipError.outputTooLarge` after producing only
/// the limit's worth, and the memory held is at most the limit plus one internal chunk (the
/// returned array's capacity is also capped by what the limit still allows).
///
/// Like `gzip -d` and Python's `gzip`, it accepts several concatenated gzip members (their outputs
/// are joined) and zero bytes of padding between or after members; anything else after a member
/// is `GzipError.malformed`. Empty input decompresses to empty output.
/// After any error the instance is spent and keeps throwing that error. Not thread-safe.
public final class GzipDecompressor {
    /// The most decompressed bytes this instance will produce across all calls.
    public let maxOutputBytes: Int
    /// Decompressed bytes produced so far.
    public private(set) var totalOutputBytes = 0

    private enum State {
        /// Before the first member, or after a member's trailer: only a new member or padding may follow.
        case betweenMembers
        /// Inside a member: more compressed data is required before the input may end.
        case inMember
        case failed(GzipError)
    }

    private var state = State.betweenMembers
    /// zlib keeps a pointer back to its `z_stream`, so the stream must never move: it lives on the heap.
    private let stream: UnsafeMutablePointer<z_stream>
    private let scratch: UnsafeMutableBufferPointer<UInt8>

    /// - Parameters:
    ///   - maxOutputBytes: the limit on the decompressed size (the server's body limit).
    ///   - chunkSize: bytes inflated per step; bounds the memory used beyond the output itself.
    public init(maxOutputBytes: Int, chunkSize: Int = 16 * 1024) {
        self.maxOutputBytes = max(0, maxOutputBytes)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        scratch = .allocate(capacity: max(1, chunkSize))
        let status = kiln_inflateInit2(stream, GzipStreamCompressor.gzipWindowBits)
        if status != Z_OK { state = .failed(.zlibFailure(code: status)) }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        scratch.deallocate()
    }

    /// Decompresses the whole of `bytes` (one or more gzip members) in one call.
    public static func decompress(_ bytes: [UInt8], maxOutputBytes: Int) throws -> [UInt8] {
        let decompressor = GzipDecompressor(maxOutputBytes: maxOutputBytes)
        let output = try decompressor.decompress(bytes)
        try decompressor.finish()
        return output
    }

    /// Feeds the next piece of compressed data; returns the plaintext it yields (possibly empty).
    /// - Throws: `GzipError.outputTooLarge` as soon as the total would pass `maxOutputBytes`;
    ///   `GzipError.malformed` on invalid data.
    public func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        try bytes.withUnsafeBytes { try decompress($0) }
    }

    /// Feeds compressed data from raw memory; see `decompress(_:)`.
    public func decompress(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        if case .failed(let error) = state { throw error }
        var output: [UInt8] = []
        var remaining = bytes
        do {
            while !remaining.isEmpty {
                // avail_in is 32 bits wide: feed very large inputs in slices.
                let slice = UnsafeRawBufferPointer(rebasing: remaining.prefix(Int(UInt32.max)))
                try inflateSlice(slice, into: &output)
                remaining = UnsafeRawBufferPointer(rebasing: remaining[slice.count...])
            }
        } catch let error as GzipError {
            state = .failed(error)
            throw error
        }
        return output
    }

    /// Declares the end of the compressed data.
    /// - Throws: `GzipError.truncated` if the data stopped inside a gzip member.
    public func finish() throws {
        switch state {
        case .failed(let error): throw error
        case .inMember:
            state = .failed(.truncated)
            throw GzipError.truncated
        case .betweenMembers: return
        }
    }

    /// Runs inflate until `input` is consumed and no decompressed bytes are left inside zlib.
    private func inflateSlice(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws {
        var next = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
        var available = input.count
        while true {
            if case .betweenMembers = state {
                // Zero padding may follow a member (tape-era gzip files); it is skipped, not decoded.
                while available > 0 && next.pointee == 0 {
                    next += 1
                    available -= 1
                }
                if available == 0 { return }
                inflateReset(stream)
                state = .inMember
            }
            // One byte more room than the limit allows: producing it proves the limit is exceeded
            // without ever inflating further.
            let room = maxOutputBytes - totalOutputBytes
            let window = min(scratch.count, room + 1)
            stream.pointee.next_in = UnsafeMutablePointer(mutating: next)
            stream.pointee.avail_in = uInt(available)
            stream.pointee.next_out = scratch.baseAddress
            stream.pointee.avail_out = uInt(window)
            let status = inflate(stream, Z_NO_FLUSH)
            let produced = window - Int(stream.pointee.avail_out)
            let consumed = available - Int(stream.pointee.avail_in)
            next = UnsafePointer(stream.pointee.next_in!)
            available = Int(stream.pointee.avail_in)
            if produced > room { throw GzipError.outputTooLarge(limit: maxOutputBytes) }
            // Grow geometrically but never past what the limit still allows, so that the array's
            // capacity (not just its count) stays within the limit.
            let needed = output.count + produced
            if needed > output.capacity {
                output.reserveCapacity(min(max(output.capacity * 2, needed), output.count + room))
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<produced]))
            totalOutputBytes += produced

            switch status {
            case Z_STREAM_END:
                state = .betweenMembers
            case Z_OK, Z_BUF_ERROR:
                // A full window means zlib may hold more output; otherwise it wants more input.
                if stream.pointee.avail_out != 0 && available == 0 { return }
                // zlib neither consumed nor produced although it had both: never loop on that.
                if produced == 0 && consumed == 0 { throw GzipError.zlibFailure(code: status) }
            case Z_NEED_DICT:
                throw GzipError.malformed(reason: "deflate data requires a preset dictionary")
            case Z_DATA_ERROR:
                throw GzipError.malformed(reason: zlibMessage ?? "invalid data")
            default:
                throw GzipError.zlibFailure(code: status)
            }
        }
    }

    private var zlibMessage: String? {
        stream.pointee.msg.map { String(cString: $0) }
    }
}
