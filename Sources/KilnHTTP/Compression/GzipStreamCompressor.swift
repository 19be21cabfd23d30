import CZlib

/// Incremental gzip compression: feed pieces of a body as they are produced and write what comes
/// back, without ever holding the whole body.
///
/// The output of all calls, concatenated, is one gzip member (RFC 1952). `flush()` ends the pending
/// deflate block on a byte boundary (`Z_SYNC_FLUSH`) so that a receiver can decode everything sent
/// so far — use it after each event of a stream; it costs a few bytes per call.
/// Not thread-safe: use one instance from one queue.
public final class GzipStreamCompressor {
    /// zlib keeps a pointer back to its `z_stream`, so the stream must never move: it lives on the heap.
    private let stream: UnsafeMutablePointer<z_stream>
    /// Where deflate writes before the bytes are appended to the caller's array.
    private let scratch: UnsafeMutableBufferPointer<UInt8>
    private var isFinished = false

    /// zlib's `windowBits` for a gzip wrapper: 15 (32 KiB window) + 16 (gzip header and trailer).
    static let gzipWindowBits: Int32 = 15 + 16
    /// zlib's default memory level: 8 (128 KiB of state), the best speed/ratio balance.
    static let defaultMemoryLevel: Int32 = 8

    /// - Parameter level: 0 (store) … 9 (smallest); -1 means zlib's default (6). Values outside
    ///   -1…9 are clamped into that range.
    public init(level: Int32 = 6) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        scratch = .allocate(capacity: 32 * 1024)
        let clampedLevel = min(max(level, -1), 9)
        let status = kiln_deflateInit2(
            stream, clampedLevel, Z_DEFLATED, Self.gzipWindowBits,
            Self.defaultMemoryLevel, Z_DEFAULT_STRATEGY)
        // deflateInit2 only fails on bad arguments (ruled out above) or when malloc fails.
        precondition(status == Z_OK, "deflateInit2 failed with zlib status \(status) (out of memory?)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        scratch.deallocate()
    }

    /// Compresses `bytes`; returns whatever compressed output is ready (often empty: deflate
    /// buffers input until it has a block's worth).
    public func compress(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { run(input: $0, flush: Z_NO_FLUSH) }
    }

    /// Compresses `bytes` from raw memory; see `compress(_:)`.
    public func compress(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        run(input: bytes, flush: Z_NO_FLUSH)
    }

    /// Returns all output so far, ending on a byte boundary so the receiver can decode it now.
    public func flush() -> [UInt8] {
        run(input: UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_SYNC_FLUSH)
    }

    /// Ends the gzip member (final block, CRC-32 and length trailer) and returns the last bytes.
    /// Further calls to any method return nothing.
    public func finish() -> [UInt8] {
        let tail = run(input: UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH)
        isFinished = true
        return tail
    }

    /// Runs deflate over `input` with the given flush mode until zlib has consumed all input and
    /// emitted everything that mode requires.
    private func run(input: UnsafeRawBufferPointer, flush: Int32) -> [UInt8] {
        guard !isFinished else { return [] }
        var output: [UInt8] = []
        var remaining = input
        repeat {
            // avail_in is 32 bits wide: feed very large inputs in slices.
            let slice = min(remaining.count, Int(UInt32.max))
            let isLastSlice = slice == remaining.count
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: remaining.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(slice)
            let mode = isLastSlice ? flush : Z_NO_FLUSH
            repeat {
                stream.pointee.next_out = scratch.baseAddress
                stream.pointee.avail_out = uInt(scratch.count)
                let status = deflate(stream, mode)
                // Z_BUF_ERROR only means "no progress possible", which the loop condition handles.
                precondition(status != Z_STREAM_ERROR, "deflate stream state corrupted")
                let produced = scratch.count - Int(stream.pointee.avail_out)
                output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<produced]))
                // A full output buffer means deflate may have more to give for this input.
            } while stream.pointee.avail_out == 0
            remaining = UnsafeRawBufferPointer(rebasing: remaining[slice...])
        } while !remaining.isEmpty
        return output
    }
}
