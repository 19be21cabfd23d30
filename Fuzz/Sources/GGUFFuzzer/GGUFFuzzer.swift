import KilnFormats

/// libFuzzer entry point for the GGUF reader.
///
/// Any input must either be rejected with a `GGUFError` or yield a file whose every tensor range
/// and metadata value can be read: each tensor's bytes are copied out (ASan checks the copy
/// against the exact-size buffer the reader parsed from), and every value is walked through the
/// typed accessors. An accepted file is then written back out and read again, and must read the
/// same: the reader keeps everything a writer needs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = GGUFLimits()
    let file: GGUFFile
    do {
        file = try GGUFFile(bytes: input, limits: limits)
    } catch is GGUFError {
        return 0
    } catch {
        preconditionFailure("GGUFFile threw a non-GGUFError: \(error)")
    }
    let tensorBytes = checkLayout(of: file, input: input, limits: limits)
    checkMetadata(of: file, limits: limits)
    checkRoundTrip(of: file, tensorBytes: tensorBytes, limits: limits)
    return 0
}

/// Checks where tensors lie and copies each one's bytes out of the file.
private func checkLayout(of file: GGUFFile, input: [UInt8], limits: GGUFLimits) -> [[UInt8]] {
    precondition(file.version == 2 || file.version == 3, "accepted version \(file.version)")
    precondition(file.fileSize == input.count, "fileSize differs from the input size")
    precondition(file.alignment > 0 && file.alignment & (file.alignment - 1) == 0, "alignment \(file.alignment)")
    precondition(file.dataOffset % file.alignment == 0, "data section not aligned")
    precondition(file.tensors.count <= limits.maxTensorCount, "too many tensors accepted")
    precondition(file.tensors.isEmpty || file.dataOffset <= file.fileSize, "data section past the end")
    var tensorBytes: [[UInt8]] = []
    var ranges: [Range<Int>] = []
    for tensor in file.tensors {
        precondition((1...limits.maxDimensions).contains(tensor.dimensions.count), "dimension count")
        precondition(tensor.dimensions.allSatisfy { $0 > 0 }, "non-positive dimension")
        precondition(tensor.name.utf8.count <= 3 * limits.maxNameBytes, "name over the limit")
        precondition(tensor.offset % file.alignment == 0, "tensor offset not aligned")
        let elements = tensor.elementCount  // traps if the product overflows
        precondition(elements % tensor.type.blockSize == 0, "partial block")
        precondition(tensor.byteCount == elements / tensor.type.blockSize * tensor.type.typeSize, "byteCount")
        let start = file.dataOffset + tensor.offset
        precondition(start + tensor.byteCount <= file.fileSize, "tensor '\(tensor.name)' ends past the file")
        precondition(file.tensor(named: tensor.name)?.offset == tensor.offset, "lookup by name")

        let bytes = file.data(of: tensor)
        precondition(bytes.count == tensor.byteCount, "data(of:) size")
        // The copy reads every byte, so ASan reports a view that leaves the buffer.
        let copy = Array(bytes)
        precondition(copy[...] == input[start..<start + tensor.byteCount], "data(of:) is not the tensor's bytes")
        tensorBytes.append(copy)
        ranges.append(tensor.offset..<tensor.offset + tensor.byteCount)
    }
    ranges.sort { $0.lowerBound < $1.lowerBound }
    for (previous, next) in zip(ranges, ranges.dropFirst()) {
        precondition(previous.upperBound <= next.lowerBound, "overlapping tensors accepted")
    }
    return tensorBytes
}

/// Reads every metadata value, through the enum and through each typed accessor.
private func checkMetadata(of file: GGUFFile, limits: GGUFLimits) {
    precondition(file.metadataKeys.count == file.metadata.count, "keys and values differ in number")
    precondition(file.metadataKeys.count <= limits.maxMetadataCount, "too many metadata entries")
    for key in file.metadataKeys {
        guard let value = file.metadata[key] else { preconditionFailure("key '\(key)' has no value") }
        walk(value, depth: 0, limits: limits)
        // The typed accessors must agree with the value they read.
        precondition(file.string(key) == value.stringValue, "string accessor")
        precondition(file.int(key) == value.intValue, "int accessor")
        precondition(file.bool(key) == value.boolValue, "bool accessor")
        precondition(sameFloat(file.float(key), value.floatValue), "float accessor")
        if let array = value.arrayValue {
            if let strings = file.strings(key) { precondition(strings.count == array.count, "strings accessor") }
            if let floats = file.floats(key) { precondition(floats.count == array.count, "floats accessor") }
            if let ints = file.ints(key) { precondition(ints.count == array.count, "ints accessor") }
        } else {
            precondition(file.strings(key) == nil && file.floats(key) == nil && file.ints(key) == nil,
                         "array accessor on a scalar")
        }
    }
}

private func walk(_ value: GGUFValue, depth: Int, limits: GGUFLimits) {
    precondition(depth <= limits.maxArrayNesting, "arrays nested deeper than the limit")
    switch value {
    case .string(let text):
        // Walking the scalars reads the whole string storage.
        var scalars = 0
        for _ in text.unicodeScalars { scalars += 1 }
        precondition(scalars <= text.utf8.count, "string scalar count")
    case .array(let elements):
        precondition(elements.count <= limits.maxArrayCount, "array over the limit")
        for element in elements { walk(element, depth: depth + 1, limits: limits) }
    default:
        _ = value.intValue
        _ = value.floatValue
        _ = value.boolValue
    }
}

private func sameFloat(_ a: Float?, _ b: Float?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return x.bitPattern == y.bitPattern
    default: return false
    }
}

/// Writes the parsed file back out and parses that: the result must equal the first parse.
/// Names and strings are read leniently (invalid UTF-8 becomes U+FFFD, up to 3 bytes for one), so
/// the second parse gets three times the length limits.
private func checkRoundTrip(of file: GGUFFile, tensorBytes: [[UInt8]], limits: GGUFLimits) {
    var writer = GGUFWriter()
    writer.write(file, tensorBytes: tensorBytes)
    var relaxed = limits
    relaxed.maxNameBytes *= 3
    relaxed.maxStringBytes *= 3
    let again: GGUFFile
    do {
        again = try GGUFFile(bytes: writer.bytes, limits: relaxed)
    } catch {
        preconditionFailure("rewritten file rejected: \(error)")
    }
    precondition(again.version == file.version, "version changed")
    precondition(again.alignment == file.alignment, "alignment changed")
    precondition(again.metadataKeys == file.metadataKeys, "metadata keys changed")
    for key in file.metadataKeys {
        precondition(sameValue(again.metadata[key]!, file.metadata[key]!), "metadata '\(key)' changed")
    }
    precondition(again.tensors.count == file.tensors.count, "tensor count changed")
    for (index, (a, b)) in zip(again.tensors, file.tensors).enumerated() {
        precondition(a.name == b.name && a.dimensions == b.dimensions && a.type == b.type
                     && a.offset == b.offset && a.byteCount == b.byteCount, "tensor \(index) changed")
        precondition(Array(again.data(of: a)) == tensorBytes[index], "tensor \(index) data changed")
    }
}

/// Equality that compares floats by bit pattern, so that a NaN equals itself.
private func sameValue(_ a: GGUFValue, _ b: GGUFValue) -> Bool {
    switch (a, b) {
    case let (.float32(x), .float32(y)): return x.bitPattern == y.bitPattern
    case let (.float64(x), .float64(y)): return x.bitPattern == y.bitPattern
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy(sameValue)
    case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
    default: return a == b
    }
}
