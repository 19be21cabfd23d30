#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the server could not listen.
public enum SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    case resolutionFailed(host: String, reason: String)
    case systemCall(name: String, errno: Int32)

    public var description: String {
        switch self {
        case .resolutionFailed(let host, let reason): return "cannot resolve \(host): \(reason)"
        case .systemCall(let name, let code): return "\(name) failed: \(String(cString: strerror(code)))"
        }
    }
}

/// A bound, listening, non-blocking socket.
struct SocketListener {
    let fileDescriptor: Int32
    /// The local address as text, with the port the kernel chose when 0 was asked for.
    let address: String
    let port: Int

    /// Opens one listener per address `host` resolves to, all on the same port (the first
    /// listener's, when `port` is 0).
    static func listen(host: String, port: Int, backlog: Int32) throws(SocketError) -> [SocketListener] {
        let addresses = try resolve(host: host, port: port)
        var listeners: [SocketListener] = []
        var chosenPort = port
        do {
            for address in addresses {
                var storage = address
                if chosenPort != 0 { SocketAddress.setPort(&storage, chosenPort) }
                let listener = try open(&storage, backlog: backlog)
                chosenPort = listener.port
                listeners.append(listener)
            }
        } catch {
            for listener in listeners { close(listener.fileDescriptor) }
            throw error
        }
        return listeners
    }

    private static func resolve(host: String, port: Int) throws(SocketError) -> [sockaddr_storage] {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var results: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw .resolutionFailed(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var addresses: [sockaddr_storage] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { raw in
                raw.copyMemory(
                    from: UnsafeRawBufferPointer(
                        start: info.pointee.ai_addr,
                        count: Int(info.pointee.ai_addrlen)))
            }
            let duplicate = addresses.contains { SocketAddress.describe($0) == SocketAddress.describe(storage) }
            if !duplicate { addresses.append(storage) }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    private static func open(_ address: inout sockaddr_storage, backlog: Int32) throws(SocketError) -> SocketListener {
        let family = Int32(address.ss_family)
        #if canImport(Glibc)
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
            let fd = socket(family, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw .systemCall(name: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // `::` serves IPv4 too; a specific IPv6 address stays IPv6-only.
            var v6only: Int32 = SocketAddress.isUnspecifiedIPv6(address) ? 0 : 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, socklen_t(MemoryLayout<Int32>.size))
        }
        let length = family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw .systemCall(name: "bind", errno: code)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            throw .systemCall(name: "listen", errno: code)
        }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        return SocketListener(
            fileDescriptor: fd, address: SocketAddress.describe(local),
            port: SocketAddress.port(local))
    }
}

/// Helpers over `sockaddr_storage` for IPv4 and IPv6.
enum SocketAddress {
    static func port(_ storage: sockaddr_storage) -> Int {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer -> Int in
            if Int32(storage.ss_family) == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    static func setPort(_ storage: inout sockaddr_storage, _ port: Int) {
        let family = Int32(storage.ss_family)
        withUnsafeMutablePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port = UInt16(port).bigEndian }
            } else {
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port = UInt16(port).bigEndian }
            }
        }
    }

    static func isUnspecifiedIPv6(_ storage: sockaddr_storage) -> Bool {
        var copy = storage
        return withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin6_addr) { $0.allSatisfy { $0 == 0 } }
            }
        }
    }

    /// `127.0.0.1:8080` or `[::1]:8080`.
    static func describe(_ storage: sockaddr_storage) -> String {
        var copy = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(storage.ss_family)
        withUnsafePointer(to: &copy) { pointer in
            if family == AF_INET6 {
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                }
            } else if family == AF_INET {
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                }
            }
        }
        let host = String(cString: text)
        return family == AF_INET6 ? "[\(host)]:\(port(storage))" : "\(host):\(port(storage))"
    }
}
