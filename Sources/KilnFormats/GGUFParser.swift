/// Bounds that a GGUF file's claimed counts and sizes must respect before anything is allocated.
public struct GGUFLimits: Sendable {
    public var maxTensorCount = 65_536
    public var maxMetadataCount = 65_536
    public var maxStringBytes = 16 << 20
    public var maxArrayCount = 16 << 20
    public var maxArrayNesting = 2
    public var maxNameBytes = 256
    public var maxDimensions = 4

    public init() {}
}

/// The parsed header of a GGUF file: metadata, tensor infos and where the data section starts.
struct GGUFHeader {
    var version: UInt32 = 0
    var metadata: [String: GGUFValue] = [:]
    var metadataKeys: [String] = []
    var tensors: [GGUFTensorInfo] = []
    var alignment = 32
    var dataOffset = 0
}

/// Reads the header of a GGUF file (versions 2 and 3, little-endian) from untrusted bytes.
///
/// Every count, length and size is checked against `limits` and against the bytes that remain,
/// with overflow-checked arithmetic, before it is used.
struct GGUFParser {
    private let bytes: UnsafeRawBufferPointer
    private let limits: GGUFLimits
    private var position = 0

    init(bytes: UnsafeRawBufferPointer, limits: GGUFLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    private var remaining: Int { bytes.count - position }

    static func parse(_ bytes: UnsafeRawBufferPointer, limits: GGUFLimits) throws -> GGUFHeader {
        var parser = GGUFParser(bytes: bytes, limits: limits)
        return try parser.parseHeader()
    }

    private mutating func parseHeader() throws -> GGUFHeader {
        var header = GGUFHeader()
        guard bytes.count >= 4, try read(UInt32.self) == 0x4655_4747 else {  // "GGUF"
            throw GGUFError("not a GGUF file (bad magic)")
        }
        header.version = try read(UInt32.self)
        guard header.version == 2 || header.version == 3 else {
            throw GGUFError("unsupported GGUF version \(header.version) (2 and 3 are supported)")
        }
        let tensorCount = try readCount(limit: limits.maxTensorCount, what: "tensor count", minimumSize: 24)
        let metadataCount = try readCount(limit: limits.maxMetadataCount, what: "metadata count", minimumSize: 12)

        header.metadata.reserveCapacity(metadataCount)
        for _ in 0..<metadataCount {
            let key = try readString(limit: limits.maxNameBytes, what: "metadata key")
            guard header.metadata[key] == nil else { throw GGUFError("duplicate metadata key '\(key)'") }
            let type = try readValueType(what: "metadata '\(key)'")
            header.metadata[key] = try readValue(type, depth: 0, what: key)
            header.metadataKeys.append(key)
        }

        if let value = header.metadata["general.alignment"] {
            guard case .uint32(let alignment) = value, alignment > 0, alignment & (alignment - 1) == 0,
                alignment <= 1 << 16
            else {
                throw GGUFError("general.alignment must be a power of two as uint32, got \(value)")
            }
            header.alignment = Int(alignment)
        }

        var names = Set<String>()
        header.tensors.reserveCapacity(tensorCount)
        for index in 0..<tensorCount {
            let info = try readTensorInfo(index: index, alignment: header.alignment)
            guard names.insert(info.name).inserted else { throw GGUFError("duplicate tensor name '\(info.name)'") }
            header.tensors.append(info)
        }

        let (padded, overflow) = position.addingReportingOverflow(header.alignment - 1)
        guard !overflow else { throw GGUFError("header size overflows") }
        header.dataOffset = padded / header.alignment * header.alignment
        try checkTensorData(header.tensors, dataOffset: header.dataOffset)
        return header
    }

    private mutating func readTensorInfo(index: Int, alignment: Int) throws -> GGUFTensorInfo {
        let name = try readString(limit: limits.maxNameBytes, what: "name of tensor \(index)")
        let dimensionCount = Int(try read(UInt32.self))
        guard (1...limits.maxDimensions).contains(dimensionCount) else {
            throw GGUFError("tensor '\(name)' has \(dimensionCount) dimensions (1...\(limits.maxDimensions) allowed)")
        }
        var dimensions: [Int] = []
        var elements = 1
        for _ in 0..<dimensionCount {
            let raw = try read(Int64.self)
            guard raw > 0, let dimension = Int(exactly: raw) else {
                throw GGUFError("tensor '\(name)' has dimension \(raw)")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw GGUFError("tensor '\(name)': element count overflows") }
            elements = product
            dimensions.append(dimension)
        }
        let rawType = try read(UInt32.self)
        guard let type = GGMLType(rawValue: rawType) else {
            throw GGUFError("tensor '\(name)' has unknown or unsupported type \(rawType)")
        }
        guard dimensions[0] % type.blockSize == 0 else {
            throw GGUFError("tensor '\(name)': row length \(dimensions[0]) is not a multiple of \(type) block size \(type.blockSize)")
        }
        let (byteCount, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
        guard !overflow else { throw GGUFError("tensor '\(name)': byte size overflows") }
        let rawOffset = try read(UInt64.self)
        guard let offset = Int(exactly: rawOffset), offset % alignment == 0 else {
            throw GGUFError("tensor '\(name)': offset \(rawOffset) is not aligned to \(alignment)")
        }
        return GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset, byteCount: byteCount)
    }

    /// Every tensor must lie inside the data section, and no two may overlap.
    private func checkTensorData(_ tensors: [GGUFTensorInfo], dataOffset: Int) throws {
        guard dataOffset <= bytes.count || tensors.isEmpty else {
            throw GGUFError("tensor data section starts past the end of the file")
        }
        let dataBytes = max(0, bytes.count - dataOffset)
        for tensor in tensors {
            let (end, overflow) = tensor.offset.addingReportingOverflow(tensor.byteCount)
            guard !overflow, end <= dataBytes else {
                throw GGUFError(
                    "tensor '\(tensor.name)' (\(tensor.byteCount) bytes at \(tensor.offset)) lies outside the file's \(dataBytes) data bytes")
            }
        }
        let sorted = tensors.sorted { $0.offset < $1.offset }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.offset + previous.byteCount > next.offset {
            throw GGUFError("tensors '\(previous.name)' and '\(next.name)' overlap")
        }
    }

    // MARK: Checked primitive reads

    private mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw GGUFError("file ends inside the header (at byte \(position))") }
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: value)
    }

    /// A claimed element count, checked against a limit and against what the remaining bytes can hold.
    private mutating func readCount(limit: Int, what: String, minimumSize: Int) throws -> Int {
        let raw = try read(UInt64.self)
        guard raw <= UInt64(limit) else { throw GGUFError("\(what) \(raw) exceeds the limit of \(limit)") }
        let count = Int(raw)
        guard count <= remaining / minimumSize else {
            throw GGUFError("\(what) \(raw) cannot fit in the \(remaining) bytes that remain")
        }
        return count
    }

    private mutating func readString(limit: Int, what: String) throws -> String {
        let raw = try read(UInt64.self)
        guard raw <= UInt64(limit) else { throw GGUFError("\(what): string length \(raw) exceeds the limit of \(limit)") }
        let length = Int(raw)
        guard length <= remaining else { throw GGUFError("\(what): string length \(raw) runs past the end of the file") }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + length])
        position += length
        // Vocabulary entries can hold raw bytes that are not UTF-8; keep them readable rather than fail.
        return String(decoding: slice, as: UTF8.self)
    }

    private mutating func readValueType(what: String) throws -> GGUFValueType {
        let raw = try read(UInt32.self)
        guard let type = GGUFValueType(rawValue: raw) else { throw GGUFError("\(what) has unknown value type \(raw)") }
        return type
    }

    private mutating func readValue(_ type: GGUFValueType, depth: Int, what: String) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self))
        case .int8: return .int8(try read(Int8.self))
        case .uint16: return .uint16(try read(UInt16.self))
        case .int16: return .int16(try read(Int16.self))
        case .uint32: return .uint32(try read(UInt32.self))
        case .int32: return .int32(try read(Int32.self))
        case .uint64: return .uint64(try read(UInt64.self))
        case .int64: return .int64(try read(Int64.self))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self)))
        case .bool:
            let raw = try read(UInt8.self)
            guard raw <= 1 else { throw GGUFError("metadata '\(what)': bool value \(raw)") }
            return .bool(raw == 1)
        case .string:
            return .string(try readString(limit: limits.maxStringBytes, what: "metadata '\(what)'"))
        case .array:
            guard depth < limits.maxArrayNesting else { throw GGUFError("metadata '\(what)': arrays nested too deeply") }
            let elementType = try readValueType(what: "array '\(what)'")
            let count = try readCount(
                limit: limits.maxArrayCount, what: "array '\(what)' length",
                minimumSize: elementType.minimumSize)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try readValue(elementType, depth: depth + 1, what: what)) }
            return .array(elements)
        }
    }
}
