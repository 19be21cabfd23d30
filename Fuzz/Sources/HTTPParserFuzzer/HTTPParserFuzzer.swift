import KilnHTTP

/// libFuzzer entry point: parses the input as a stream of HTTP requests, once whole and once cut
/// into pieces, and traps when the two disagree or an invariant breaks.
///
/// The first input byte chooses the piece size, so the fuzzer explores how requests are split
/// across reads; the limits are small so that every limit path is reachable.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let pieceSize = Int(input[0] % 17) + 1
    let stream = Array(input.dropFirst())
    let limits = HTTPParserLimits(maxTargetBytes: 64, maxHeaderBytes: 512, maxHeaderCount: 8,
                                  maxBodyBytes: 256, maxChunkLineBytes: 32)
    let whole = ParserRun(stream, pieceSize: stream.count + 1, limits: limits)
    let pieces = ParserRun(stream, pieceSize: pieceSize, limits: limits)
    // Splitting input across reads must never change what is parsed. The split run may stop
    // earlier only by waiting for input the whole run also lacked.
    precondition(whole.requests == pieces.requests, "piecewise parse differs from whole parse")
    precondition(whole.error == pieces.error, "piecewise error differs: \(String(describing: whole.error)) vs \(String(describing: pieces.error))")
    return 0
}

struct ParserRun {
    var requests: [String] = []
    var error: HTTPParseError?

    init(_ bytes: [UInt8], pieceSize: Int, limits: HTTPParserLimits) {
        var parser = HTTPRequestParser(limits: limits)
        var offset = 0
        var current = ""
        var bodyBytes = 0
        var body: [UInt8] = []
        repeat {
            let end = min(offset + pieceSize, bytes.count)
            parser.append(Array(bytes[offset..<end]))
            offset = end
            do {
                while let event = try parser.next() {
                    switch event {
                    case .head(let head):
                        precondition(head.target.utf8.count <= limits.maxTargetBytes, "target over the limit")
                        precondition(head.headers.count <= limits.maxHeaderCount, "too many headers accepted")
                        current = "\(head.method) \(head.target) \(head.version) \(head.headers.map { "\($0.name)=\($0.value)" })"
                        bodyBytes = 0
                    case .body(let chunk):
                        precondition(!chunk.isEmpty, "empty body event")
                        bodyBytes += chunk.count
                        precondition(bodyBytes <= limits.maxBodyBytes, "body over the limit")
                        body += chunk
                    case .end:
                        requests.append(current + " body=\(body)")
                        body = []
                    }
                }
            } catch let failure {
                error = failure
                // A failed parser stays failed.
                do {
                    _ = try parser.next()
                    preconditionFailure("parser recovered after an error")
                } catch {
                    precondition(error == failure, "parser changed its error")
                }
                return
            }
        } while offset < bytes.count
    }
}
