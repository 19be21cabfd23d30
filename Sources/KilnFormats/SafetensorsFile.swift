import KilnJSON

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The element types a safetensors file may declare.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64"
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i64 = "I64"
    case i32 = "I32"
    case i16 = "I16"
    case i8 = "I8"
    case u8 = "U8"
    case bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// One tensor of a safetensors file.
public struct SafetensorsTensorInfo: Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Row-major shape, outermost first (PyTorch order).
    public let shape: [Int]
    /// Byte range inside the data section.
    public let offsets: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped read-only and validated at open: the header length is bounded
/// and inside the file, the header is UTF-8 JSON, dtypes are known, and the tensors' byte ranges are
/// sorted, contiguous, inside the file and equal to shape × dtype size (checked arithmetic).
public final class SafetensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes = 100_000_000

    public let tensors: [SafetensorsTensorInfo]
    public let metadata: [String: String]
    public let fileSize: Int
    private let dataStart: UnsafeRawPointer
    private let byName: [String: Int]
    private let release: () -> Void

    public convenience init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FormatError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError("\(path) is not a regular file")
        }
        let size = Int(status.st_size)
        guard size >= 8 else { throw FormatError("\(path) is too short to be a safetensors file") }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), map != MAP_FAILED else {
            throw FormatError("cannot map \(path)")
        }
        try self.init(base: UnsafeRawPointer(map), size: size) { munmap(map, size) }
    }

    public convenience init(bytes: [UInt8]) throws {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { storage.copyMemory(from: base, byteCount: $0.count) } }
        try self.init(base: UnsafeRawPointer(storage), size: bytes.count) { storage.deallocate() }
    }

    private init(base: UnsafeRawPointer, size: Int, release: @escaping () -> Void) throws {
        do {
            let parsed = try Self.parseHeader(UnsafeRawBufferPointer(start: base, count: size))
            tensors = parsed.tensors
            metadata = parsed.metadata
            dataStart = base + parsed.dataOffset
        } catch {
            release()
            throw error
        }
        fileSize = size
        self.release = release
        byName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    deinit { release() }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { byName[name].map { tensors[$0] } }

    public func data(of tensor: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: dataStart + tensor.offsets.lowerBound, count: tensor.offsets.count)
    }

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer)
        throws -> (tensors: [SafetensorsTensorInfo], metadata: [String: String], dataOffset: Int)
    {
        guard bytes.count >= 8 else { throw FormatError("file too short for a safetensors header") }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(maxHeaderBytes) else {
            throw FormatError("safetensors header length \(declared) exceeds \(maxHeaderBytes) bytes")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - 8 else {
            throw FormatError("safetensors header length \(declared) runs past the end of the file")
        }
        let headerBytes = Array(UnsafeRawBufferPointer(rebasing: bytes[8..<8 + headerLength]))
        let header: JSONValue
        do {
            header = try JSONParser(maxDepth: 8).parse(headerBytes)
        } catch {
            throw FormatError("safetensors header is not valid JSON: \(error)")
        }
        guard case .object(let members) = header else { throw FormatError("safetensors header is not a JSON object") }

        let dataBytes = bytes.count - 8 - headerLength
        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensorInfo] = []
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw FormatError("duplicate tensor '\(name)'") }
            if name == "__metadata__" {
                guard case .object(let entries) = value else { throw FormatError("__metadata__ must be an object") }
                for (key, entry) in entries {
                    guard case .string(let text) = entry else { throw FormatError("__metadata__ '\(key)' must be a string") }
                    metadata[key] = text
                }
                continue
            }
            tensors.append(try tensorInfo(name: name, value: value))
        }

        // Byte ranges must tile the data section exactly: sorted, contiguous, no gaps, nothing left over.
        let sorted = tensors.sorted { $0.offsets.lowerBound < $1.offsets.lowerBound }
        var expectedStart = 0
        for tensor in sorted {
            guard tensor.offsets.lowerBound == expectedStart else {
                throw FormatError(
                    "tensor '\(tensor.name)' starts at \(tensor.offsets.lowerBound), expected \(expectedStart) (ranges must be contiguous)")
            }
            expectedStart = tensor.offsets.upperBound
        }
        guard expectedStart == dataBytes else {
            throw FormatError("tensors cover \(expectedStart) bytes but the data section holds \(dataBytes)")
        }
        return (tensors, metadata, 8 + headerLength)
    }

    private static func tensorInfo(name: String, value: JSONValue) throws -> SafetensorsTensorInfo {
        guard case .string(let dtypeName)? = value["dtype"] else { throw FormatError("tensor '\(name)': missing dtype") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw FormatError("tensor '\(name)': unsupported dtype \(dtypeName)")
        }
        guard case .array(let rawShape)? = value["shape"], rawShape.count <= 8 else {
            throw FormatError("tensor '\(name)': shape must be an array of at most 8 dimensions")
        }
        var shape: [Int] = []
        var bytes = dtype.byteSize
        for dimension in rawShape {
            guard case .int(let d) = dimension, d >= 0 else { throw FormatError("tensor '\(name)': invalid dimension \(dimension)") }
            let (product, overflow) = bytes.multipliedReportingOverflow(by: d)
            guard !overflow else { throw FormatError("tensor '\(name)': size overflows") }
            bytes = product
            shape.append(d)
        }
        guard case .array(let rawOffsets)? = value["data_offsets"], rawOffsets.count == 2,
            case .int(let begin) = rawOffsets[0], case .int(let end) = rawOffsets[1], begin >= 0, end >= begin
        else {
            throw FormatError("tensor '\(name)': data_offsets must be two ordered non-negative integers")
        }
        guard end - begin == bytes else {
            throw FormatError("tensor '\(name)': data_offsets span \(end - begin) bytes but shape × dtype is \(bytes)")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, offsets: begin..<end)
    }
}

/// Why a model file (other than GGUF) was rejected.
public struct FormatError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
