import KilnFormats

/// Writes a parsed `GGUFFile` back to GGUF bytes (little-endian, the layout GGUFParser reads):
/// header, metadata in file order, tensor infos, padding to the alignment, then the data section
/// with each tensor at its recorded offset.
struct GGUFWriter {
    private(set) var bytes: [UInt8] = []

    mutating func write(_ file: GGUFFile, tensorBytes: [[UInt8]]) {
        bytes += Array("GGUF".utf8)
        u32(file.version)
        u64(UInt64(file.tensors.count))
        u64(UInt64(file.metadataKeys.count))
        for key in file.metadataKeys {
            let value = file.metadata[key]!
            string(key)
            u32(typeCode(of: value))
            write(value)
        }
        for tensor in file.tensors {
            string(tensor.name)
            u32(UInt32(tensor.dimensions.count))
            for dimension in tensor.dimensions { u64(UInt64(dimension)) }
            u32(tensor.type.rawValue)
            u64(UInt64(tensor.offset))
        }
        while bytes.count % file.alignment != 0 { bytes.append(0) }
        let dataStart = bytes.count
        // Tensors may leave gaps; the section is as long as its last tensor's end.
        let end = file.tensors.map { $0.offset + $0.byteCount }.max() ?? 0
        bytes += [UInt8](repeating: 0, count: end)
        for (tensor, data) in zip(file.tensors, tensorBytes) {
            bytes.replaceSubrange(dataStart + tensor.offset..<dataStart + tensor.offset + data.count, with: data)
        }
    }

    private mutating func write(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): bytes.append(v)
        case .int8(let v): bytes.append(UInt8(bitPattern: v))
        case .uint16(let v): little(v)
        case .int16(let v): little(v)
        case .uint32(let v): little(v)
        case .int32(let v): little(v)
        case .uint64(let v): little(v)
        case .int64(let v): little(v)
        case .float32(let v): little(v.bitPattern)
        case .float64(let v): little(v.bitPattern)
        case .bool(let v): bytes.append(v ? 1 : 0)
        case .string(let v): string(v)
        case .array(let elements):
            // An empty array keeps no element type; any type reads back as the same empty array.
            u32(elements.first.map(typeCode(of:)) ?? 0)
            u64(UInt64(elements.count))
            for element in elements { write(element) }
        }
    }

    private func typeCode(of value: GGUFValue) -> UInt32 {
        switch value {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    private mutating func string(_ text: String) {
        u64(UInt64(text.utf8.count))
        bytes += Array(text.utf8)
    }

    private mutating func u32(_ value: UInt32) { little(value) }
    private mutating func u64(_ value: UInt64) { little(value) }
    private mutating func little<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}
