/// An incremental HTTP/1.1 request parser (RFC 9112).
///
/// Feed it bytes as they arrive with ``append(_:)-(UnsafeRawBufferPointer)`` and pull events with
/// ``next()``: one `.head`, zero or more `.body` slices (already de-chunked) and one `.end` per
/// request, then the next request's events (pipelining). `next()` returns nil when it needs more
/// bytes. Any framing error is final: the parser stays failed and the connection must answer the
/// error's ``HTTPParseError/status`` and close, because the next message's start is unknown.
///
/// Strictness is deliberate: everything that two HTTP implementations could disagree on
/// (bare LF, obs-fold, whitespace before a colon, Content-Length with Transfer-Encoding, differing
/// lengths) is refused, so no proxy in front of Kiln can be played against it.
public struct HTTPRequestParser: Sendable {
    /// What the parser found next in the byte stream.
    public enum Event: Sendable, Equatable {
        case head(HTTPRequestHead)
        case body([UInt8])
        case end
    }

    enum State: Sendable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case messageEnd
        case failed(HTTPParseError)
    }

    /// Empty lines tolerated before a request line (RFC 9112 §2.2 asks to ignore at least one).
    static let maxLeadingEmptyLines = 4

    public let limits: HTTPParserLimits
    var buffer: [UInt8] = []
    var readIndex = 0
    var state: State = .head
    var headScan = HeadScan()
    var chunkedBodyBytes = 0
    var trailerBytes = 0
    var trailerLines = 0
    /// The last head decoded, whose strings the next one reuses where it repeats them.
    var previousHead: HTTPRequestHead?
    /// Set when the last head was refused for its framing.
    private var framingRefused = false

    /// The head of a request refused for its framing (413 for a declared length over the limit,
    /// 400 for conflicting lengths, 501 for a transfer coding): read whole, so the answer can
    /// still name the request (its method, path and `X-Request-ID`).
    var refusedHead: HTTPRequestHead? { framingRefused ? previousHead : nil }

    /// Progress through a header section that has not fully arrived yet; offsets are relative to
    /// `readIndex`, so nothing is rescanned when more bytes come.
    struct HeadScan: Sendable {
        var scanned = 0
        var lineStart = 0
        var lineCount = 0
        var skippedEmptyLines = 0
        var requestLine = RequestLineScanner()
    }

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// Bytes received but not consumed yet.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// True between messages with nothing of the next one received: the connection is idle.
    public var isIdle: Bool {
        if case .head = state { return bufferedByteCount == 0 }
        return false
    }

    /// True while the body of a request is being received.
    public var isReadingBody: Bool {
        switch state {
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers: return true
        default: return false
        }
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes.
    public mutating func append(_ bytes: [UInt8]) {
        compactIfUseful()
        buffer.append(contentsOf: bytes)
    }

    private mutating func compactIfUseful() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex >= 16 * 1024 && readIndex * 2 >= buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }

    /// The next event, or nil when more bytes are needed.
    public mutating func next() throws(HTTPParseError) -> Event? {
        do {
            return try step()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPParseError) -> Event? {
        switch state {
        case .failed(let error):
            throw error
        case .head:
            guard let headLength = try scanHead() else { return nil }
            let head = try HTTPHeadDecoder.decode(
                buffer[readIndex..<(readIndex + headLength)],
                limits: limits, previous: previousHead)
            previousHead = head
            let framing: HTTPRequestFraming
            do {
                framing = try HTTPRequestFraming.framing(of: head, limits: limits)
            } catch {
                // A flag, not a copy of the head: `previousHead` already holds it.
                framingRefused = true
                throw error
            }
            readIndex += headLength
            headScan = HeadScan()
            switch framing {
            case .none: state = .messageEnd
            case .length(let length): state = length == 0 ? .messageEnd : .fixedBody(remaining: length)
            case .chunked:
                chunkedBodyBytes = 0
                state = .chunkSize
            }
            return .head(head)
        case .messageEnd:
            state = .head
            return .end
        case .fixedBody(let remaining):
            guard bufferedByteCount > 0 else { return nil }
            let take = min(remaining, bufferedByteCount)
            let slice = Array(buffer[readIndex..<(readIndex + take)])
            readIndex += take
            state = take == remaining ? .messageEnd : .fixedBody(remaining: remaining - take)
            return .body(slice)
        case .chunkSize:
            guard let size = try scanChunkSize() else { return nil }
            if size == 0 {
                trailerBytes = 0
                trailerLines = 0
                state = .trailers
            } else {
                state = .chunkData(remaining: size)
            }
            return try step()
        case .chunkData(let remaining):
            guard bufferedByteCount > 0 else { return nil }
            let take = min(remaining, bufferedByteCount)
            let slice = Array(buffer[readIndex..<(readIndex + take)])
            readIndex += take
            state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            return .body(slice)
        case .chunkDataEnd:
            guard bufferedByteCount >= 2 else {
                if bufferedByteCount == 1 && buffer[readIndex] != HTTPSyntax.cr {
                    throw .badRequest("chunk data longer than its declared size")
                }
                return nil
            }
            guard buffer[readIndex] == HTTPSyntax.cr, buffer[readIndex + 1] == HTTPSyntax.lf else {
                throw .badRequest("chunk data longer than its declared size")
            }
            readIndex += 2
            state = .chunkSize
            return try step()
        case .trailers:
            guard try scanTrailers() else { return nil }
            state = .head
            return .end
        }
    }

    /// Scans for the end of the header section; returns its length (final CRLF included) once complete.
    ///
    /// Runs over the buffer's storage through a pointer: this loop sees every byte of every
    /// request head, and indexing the array property byte by byte costs several times more.
    private mutating func scanHead() throws(HTTPParseError) -> Int? {
        var scan = headScan
        defer { headScan = scan }
        var start = readIndex
        defer { readIndex = start }
        let limits = self.limits
        return try buffer.withUnsafeBufferPointer { bytes throws(HTTPParseError) -> Int? in
            var index = start + scan.scanned
            let end = bytes.count
            while index < end {
                // Bytes other than CR and LF go through a tight loop: the request line's are
                // checked by its scanner in one call, a field line's need only the size check
                // (a byte after a CR takes the general path below, which checks for a bare CR).
                if !(index > start && bytes[index - 1] == HTTPSyntax.cr) {
                    let stop = min(end, start + limits.maxHeaderBytes + 1)
                    if scan.lineCount == 0 {
                        index = try scan.requestLine.consume(
                            bytes, from: index, upTo: stop,
                            maxTargetBytes: limits.maxTargetBytes)
                    } else {
                        while index < stop {
                            let byte = bytes[index]
                            if byte == HTTPSyntax.cr || byte == HTTPSyntax.lf { break }
                            index += 1
                        }
                    }
                    if index - start > limits.maxHeaderBytes {
                        throw .headerFieldsTooLarge("header section larger than \(limits.maxHeaderBytes) bytes")
                    }
                    if index == end { break }
                }
                let byte = bytes[index]
                let offset = index - start
                if offset > 0 && bytes[index - 1] == HTTPSyntax.cr && byte != HTTPSyntax.lf
                    && offset - 1 >= scan.lineStart
                {
                    throw .badRequest("bare CR in header section")
                }
                if byte == HTTPSyntax.lf {
                    guard offset - 1 >= scan.lineStart, bytes[index - 1] == HTTPSyntax.cr else {
                        throw .badRequest("bare LF in header section")
                    }
                    let lineLength = offset - 1 - scan.lineStart
                    if lineLength == 0 {
                        if scan.lineCount == 0 {
                            // An empty line before the request line: skip it (RFC 9112 §2.2).
                            scan.skippedEmptyLines += 1
                            if scan.skippedEmptyLines > Self.maxLeadingEmptyLines {
                                throw .badRequest("too many empty lines before the request line")
                            }
                            start = index + 1
                            scan.scanned = 0
                            scan.lineStart = 0
                            index = start
                            continue
                        }
                        scan.scanned = offset + 1
                        return offset + 1
                    }
                    if scan.lineCount == 0 && scan.requestLine.phase != .version {
                        throw .badRequest("incomplete request line")
                    }
                    scan.lineCount += 1
                    if scan.lineCount - 1 > limits.maxHeaderCount {
                        throw .headerFieldsTooLarge("more than \(limits.maxHeaderCount) header fields")
                    }
                    scan.lineStart = offset + 1
                } else if byte != HTTPSyntax.cr && scan.lineCount == 0 {
                    try scan.requestLine.consume(byte, maxTargetBytes: limits.maxTargetBytes)
                }
                index += 1
                if index - start > limits.maxHeaderBytes {
                    throw .headerFieldsTooLarge("header section larger than \(limits.maxHeaderBytes) bytes")
                }
            }
            scan.scanned = index - start
            return nil
        }
    }

    /// Parses a chunk-size line (`1*HEXDIG [ BWS ";" ext ] CRLF`); nil until the line is complete.
    private mutating func scanChunkSize() throws(HTTPParseError) -> Int? {
        let available = bufferedByteCount
        let searchEnd = readIndex + min(available, limits.maxChunkLineBytes + 2)
        var lineFeed: Int? = nil
        var index = readIndex
        while index < searchEnd {
            if buffer[index] == HTTPSyntax.lf {
                lineFeed = index
                break
            }
            index += 1
        }
        guard let lf = lineFeed else {
            if available >= limits.maxChunkLineBytes + 2 { throw .badRequest("chunk-size line too long") }
            return nil
        }
        guard lf > readIndex, buffer[lf - 1] == HTTPSyntax.cr else {
            throw .badRequest("bare LF in chunk-size line")
        }
        let lineEnd = lf - 1
        var size = 0
        var cursor = readIndex
        while cursor < lineEnd, let digit = HTTPSyntax.hexValue(buffer[cursor]) {
            guard size <= (Int.max >> 4) else { throw .badRequest("chunk size overflows") }
            size = size << 4 | digit
            cursor += 1
        }
        guard cursor > readIndex else { throw .badRequest("malformed chunk size") }
        // Extensions are ignored, but they must be well-formed enough not to hide a framing trick.
        var sawSemicolon = false
        while cursor < lineEnd {
            let byte = buffer[cursor]
            if byte == UInt8(ascii: ";") {
                sawSemicolon = true
            } else if byte == HTTPSyntax.space || byte == HTTPSyntax.tab {
                // bad whitespace is allowed before ";" and inside extensions
            } else if !sawSemicolon || !HTTPSyntax.isFieldValue(byte) {
                throw .badRequest("malformed chunk extension")
            }
            cursor += 1
        }
        guard size <= limits.maxBodyBytes - chunkedBodyBytes else { throw .contentTooLarge }
        chunkedBodyBytes += size
        readIndex = lf + 1
        return size
    }

    /// Reads and discards the trailer section; true once its final empty line has arrived.
    private mutating func scanTrailers() throws(HTTPParseError) -> Bool {
        while true {
            var lineFeed: Int? = nil
            var index = readIndex
            while index < buffer.count {
                if buffer[index] == HTTPSyntax.lf {
                    lineFeed = index
                    break
                }
                index += 1
            }
            // The size check comes first and counts only the bytes before LF, so the verdict is
            // the same however the input was split into reads.
            let lineBytes = (lineFeed ?? buffer.count) - readIndex
            if trailerBytes + lineBytes > limits.maxHeaderBytes {
                throw .headerFieldsTooLarge("trailer section too large")
            }
            guard let lf = lineFeed else { return false }
            guard lf > readIndex, buffer[lf - 1] == HTTPSyntax.cr else {
                throw .badRequest("bare LF in trailer section")
            }
            let line = buffer[readIndex..<(lf - 1)]
            trailerBytes += lf + 1 - readIndex
            readIndex = lf + 1
            if line.isEmpty { return true }
            trailerLines += 1
            if trailerLines > limits.maxHeaderCount {
                throw .headerFieldsTooLarge("too many trailer fields")
            }
            _ = try HTTPHeadDecoder.decodeFieldLine(line)
        }
    }
}
