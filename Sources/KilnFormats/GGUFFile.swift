#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A GGUF model or vocabulary file, memory-mapped read-only.
///
/// The header is parsed and validated once at open (see `GGUFParser`); tensor data is never
/// copied: `data(of:)` returns a view into the map, valid while the `GGUFFile` lives.
public final class GGUFFile: @unchecked Sendable {
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, or 32 when the file does not set it.
    public let alignment: Int
    /// Byte offset of the tensor data section from the start of the file.
    public let dataOffset: Int

    private let base: UnsafeRawPointer
    public let fileSize: Int
    private let tensorsByName: [String: Int]
    private let release: () -> Void

    /// Maps and validates the file at `path`.
    public convenience init(path: String, limits: GGUFLimits = GGUFLimits()) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw GGUFError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw GGUFError("cannot stat \(path)") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw GGUFError("\(path) is not a regular file") }
        let size = Int(status.st_size)
        guard size > 0 else { throw GGUFError("\(path) is empty") }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), map != MAP_FAILED else {
            throw GGUFError("cannot map \(path): \(String(cString: strerror(errno)))")
        }
        try self.init(base: UnsafeRawPointer(map), size: size, limits: limits) { munmap(map, size) }
    }

    /// Parses an in-memory copy of a file (for tests and crafted inputs).
    public convenience init(bytes: [UInt8], limits: GGUFLimits = GGUFLimits()) throws {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        try self.init(base: UnsafeRawPointer(storage), size: bytes.count, limits: limits) { storage.deallocate() }
    }

    private init(base: UnsafeRawPointer, size: Int, limits: GGUFLimits, release: @escaping () -> Void) throws {
        let header: GGUFHeader
        do {
            header = try GGUFParser.parse(UnsafeRawBufferPointer(start: base, count: size), limits: limits)
        } catch {
            release()
            throw error
        }
        self.base = base
        self.fileSize = size
        self.release = release
        version = header.version
        metadata = header.metadata
        metadataKeys = header.metadataKeys
        tensors = header.tensors
        alignment = header.alignment
        dataOffset = header.dataOffset
        tensorsByName = Dictionary(uniqueKeysWithValues: header.tensors.enumerated().map { ($1.name, $0) })
    }

    deinit { release() }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorsByName[name].map { tensors[$0] }
    }

    /// The bytes of `tensor`, inside the map. Bounds were checked when the file was opened.
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataOffset + tensor.offset, count: tensor.byteCount)
    }

    // MARK: Typed metadata

    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    public func float(_ key: String) -> Float? { metadata[key]?.floatValue }
    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }

    public func strings(_ key: String) -> [String]? {
        guard let array = metadata[key]?.arrayValue else { return nil }
        var result: [String] = []
        result.reserveCapacity(array.count)
        for value in array {
            guard let string = value.stringValue else { return nil }
            result.append(string)
        }
        return result
    }

    public func floats(_ key: String) -> [Float]? {
        guard let array = metadata[key]?.arrayValue else { return nil }
        let result = array.compactMap(\.floatValue)
        return result.count == array.count ? result : nil
    }

    public func ints(_ key: String) -> [Int]? {
        guard let array = metadata[key]?.arrayValue else { return nil }
        let result = array.compactMap(\.intValue)
        return result.count == array.count ? result : nil
    }
}
