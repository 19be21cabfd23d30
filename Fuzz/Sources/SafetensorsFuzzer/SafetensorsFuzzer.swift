import KilnFormats
import KilnJSON

/// libFuzzer entry point for the safetensors reader.
///
/// Any input must either be rejected with a `FormatError` or yield tensors whose byte ranges tile
/// the data section and can be read: each tensor's bytes are copied out (ASan checks the copy
/// against the exact-size buffer the reader parsed from). An accepted file is then written back
/// with a freshly serialized header and read again, and must read the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let file: SafetensorsFile
    do {
        file = try SafetensorsFile(bytes: input)
    } catch is FormatError {
        return 0
    } catch {
        preconditionFailure("SafetensorsFile threw a non-FormatError: \(error)")
    }
    precondition(file.fileSize == input.count, "fileSize differs from the input size")
    // Accepted, so the first 8 bytes hold a header length that lies inside the input.
    let headerLength = input[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let dataStart = 8 + headerLength
    let dataBytes = input.count - dataStart
    precondition(dataBytes >= 0, "header runs past the file")

    var covered = 0
    var tensorBytes: [[UInt8]] = []
    for tensor in file.tensors {
        precondition(tensor.name != "__metadata__", "__metadata__ read as a tensor")
        precondition(tensor.shape.count <= 8 && tensor.shape.allSatisfy { $0 >= 0 }, "shape accepted: \(tensor.shape)")
        let (expected, overflow) = tensor.elementCount.multipliedReportingOverflow(by: tensor.dtype.byteSize)
        precondition(!overflow && expected == tensor.offsets.count, "byte range does not match shape × dtype")
        precondition(tensor.offsets.lowerBound >= 0 && tensor.offsets.upperBound <= dataBytes, "range outside the data")
        precondition(file.tensor(named: tensor.name)?.offsets == tensor.offsets, "lookup by name")
        let bytes = file.data(of: tensor)
        precondition(bytes.count == tensor.offsets.count, "data(of:) size")
        let copy = Array(bytes)  // reads every byte, so ASan reports a view that leaves the buffer
        let start = dataStart + tensor.offsets.lowerBound
        precondition(copy[...] == input[start..<start + copy.count], "data(of:) is not the tensor's bytes")
        tensorBytes.append(copy)
        covered += tensor.offsets.count
    }
    precondition(covered == dataBytes, "tensors cover \(covered) of \(dataBytes) data bytes")
    for (key, value) in file.metadata { _ = key.utf8.count + value.utf8.count }

    checkRoundTrip(of: file, tensorBytes: tensorBytes)
    return 0
}

/// Serializes the parsed header with KilnJSON, appends the tensors' bytes in offset order, and
/// parses the result: it must hold the same tensors, metadata and bytes.
private func checkRoundTrip(of file: SafetensorsFile, tensorBytes: [[UInt8]]) {
    var members: [(String, JSONValue)] = []
    if !file.metadata.isEmpty {
        members.append(("__metadata__", .object(file.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
    }
    for tensor in file.tensors {
        members.append((tensor.name, .object([
            ("dtype", .string(tensor.dtype.rawValue)),
            ("shape", .array(tensor.shape.map { .int($0) })),
            ("data_offsets", .array([.int(tensor.offsets.lowerBound), .int(tensor.offsets.upperBound)])),
        ])))
    }
    let header = JSONValue.object(members).serializedBytes
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
    bytes += header
    let order = file.tensors.indices.sorted { file.tensors[$0].offsets.lowerBound < file.tensors[$1].offsets.lowerBound }
    for index in order { bytes += tensorBytes[index] }

    let again: SafetensorsFile
    do {
        again = try SafetensorsFile(bytes: bytes)
    } catch {
        preconditionFailure("rewritten file rejected: \(error)")
    }
    precondition(again.metadata == file.metadata, "metadata changed")
    precondition(again.tensors.count == file.tensors.count, "tensor count changed")
    for (index, (a, b)) in zip(again.tensors, file.tensors).enumerated() {
        precondition(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.offsets == b.offsets,
                     "tensor \(index) changed")
        precondition(Array(again.data(of: a)) == tensorBytes[index], "tensor \(index) data changed")
    }
}
