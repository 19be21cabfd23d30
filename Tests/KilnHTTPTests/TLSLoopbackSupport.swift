import Foundation
import KilnHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `openssl s_client` against a TLS port and returns what it printed: the handshake summary
/// ("Protocol  : TLSv1.3", "Cipher is …") and the server's response. Usable against any server
/// on 127.0.0.1 — the KilnHTTP server's own TLS tests can call it.
enum OpenSSLCommandLineClient {
    /// - Parameters:
    ///   - port: the TLS port on 127.0.0.1.
    ///   - arguments: extra s_client flags, e.g. `["-tls1_3"]`, `["-tls1_2"]`,
    ///     `["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]`, `["-CAfile", path, "-verify_return_error"]`.
    ///   - request: bytes sent once the handshake is done (s_client then waits for the server to close).
    static func run(port: UInt16, arguments: [String], request: String) throws -> CodecTestProcess.Result {
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        let input = try directory.write(Array(request.utf8), to: "request")
        return try CodecTestProcess.run(
            "openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-ign_eof",
            ] + arguments, stdinFile: input)
    }
}

/// A minimal blocking TLS server for one connection, built from `TLSSession` and plain sockets:
/// it proves the session interoperates with real clients (s_client, curl) over real sockets,
/// independently of the production connection code. It answers the first request with
/// `200 OK` and a body naming the negotiated protocol, then closes with close_notify.
final class TLSLoopbackServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)
    private var serverError: TLSError?
    private var protocolName: String?

    init(context: TLSContext) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        guard listener >= 0 else { throw TLSTestFailure("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 4) == 0 else {
            close(listener)
            throw TLSTestFailure("bind/listen: \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let session = context.makeSession()
        Thread.detachNewThread { [self] in
            serve(session)
            done.signal()
        }
    }

    /// Waits for the connection to end; returns the server-side error, if any, and the protocol.
    func finish() -> (error: TLSError?, negotiatedProtocol: String?) {
        _ = done.wait(timeout: .now() + 20)
        close(listener)
        return (serverError, protocolName)
    }

    private func serve(_ session: TLSSession) {
        guard waitReadable(listener) else { return }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while waitReadable(connection) {
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { return }
            do {
                request += try session.receive(Array(buffer[0..<count]))
                writeAll(connection, session.takeOutput())
                if request.count >= 4, request.suffix(4) == Array("\r\n\r\n".utf8) {
                    protocolName = session.negotiatedProtocol
                    let body = "negotiated \(session.negotiatedProtocol ?? "-")\n"
                    try session.send(Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
                    session.close()
                    writeAll(connection, session.takeOutput())
                    shutdown(connection, Int32(SHUT_WR))
                    return
                }
            } catch {
                serverError = error as? TLSError
                writeAll(connection, session.takeOutput())  // the alert, if any
                return
            }
        }
    }

    private func waitReadable(_ descriptor: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 10_000) == 1
    }

    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }
}
