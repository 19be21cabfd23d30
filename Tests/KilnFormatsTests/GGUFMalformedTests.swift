import KilnFormats
import Testing

/// Crafted GGUF files, each broken in one way, each of which must be refused with a clear error and
/// without allocating on the strength of the lie. They cover the classes of flaw behind llama.cpp's
/// GGUF CVEs (CVE-2024-21802, -21825, -21836, -23496, -23605, CVE-2025-53630, CVE-2026-27940): huge
/// tensor and metadata counts, huge string and array lengths, dimension products that wrap, unchecked
/// element types, tensor data out of bounds or overlapping, and duplicate keys.
@Suite struct GGUFMalformedTests {
    /// A crafted file and the phrase its error must contain.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let expected: String
        var testDescription: String { name }
    }

    /// A valid file with one F32 tensor of 8 elements: the base every broken case departs from.
    static func valid() -> [UInt8] {
        var b = GGUFBuilder()
        b.header(tensors: 1, metadata: 1)
        b.keyString("general.architecture", "llama")
        b.tensorInfo("t", dims: [8], type: 0, offset: 0)
        b.data(count: 32)
        return b.bytes
    }

    static func build(_ body: (inout GGUFBuilder) -> Void) -> [UInt8] {
        var b = GGUFBuilder()
        body(&b)
        return b.bytes
    }

    static let cases: [Case] = [
        Case(name: "empty file", bytes: [], expected: "bad magic"),
        Case(name: "bad magic", bytes: Array("GGML".utf8) + valid().dropFirst(4), expected: "bad magic"),
        Case(
            name: "version 1", bytes: build { $0.header(version: 1, tensors: 0, metadata: 0) },
            expected: "unsupported GGUF version 1"),
        Case(name: "truncated header", bytes: Array(valid().prefix(10)), expected: "ends inside the header"),
        Case(
            name: "huge tensor count", bytes: build { $0.header(tensors: 1 << 62, metadata: 0) },
            expected: "tensor count"),
        Case(
            name: "tensor count beyond the bytes left", bytes: build { $0.header(tensors: 1000, metadata: 0) },
            expected: "cannot fit"),
        Case(
            name: "huge metadata count", bytes: build { $0.header(tensors: 0, metadata: UInt64.max) },
            expected: "metadata count"),
        Case(
            name: "huge key length",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.u64(UInt64.max)
                $0.bytes += Array("key and some padding".utf8)
            }, expected: "string length"),
        Case(
            name: "string value past the end",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.string("k")
                $0.u32(8)
                $0.u64(4096)
                $0.bytes += Array("short".utf8)
            }, expected: "runs past the end"),
        Case(
            name: "huge array length",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.string("a")
                $0.u32(9)
                $0.u32(10)
                $0.u64(1 << 61)
            }, expected: "array 'a' length"),
        Case(
            name: "array of strings longer than the file",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.string("a")
                $0.u32(9)
                $0.u32(8)
                $0.u64(1_000_000)
                $0.string("x")
            }, expected: "cannot fit"),
        Case(
            name: "arrays nested too deeply",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.string("a")
                $0.u32(9)
                for _ in 0..<4 {
                    $0.u32(9)
                    $0.u64(1)
                }
                $0.u32(0)
                $0.u64(0)
            }, expected: "nested too deeply"),
        Case(
            name: "unknown metadata value type",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.string("k")
                $0.u32(77)
                $0.u32(0)
            }, expected: "unknown value type 77"),
        Case(
            name: "bool that is neither 0 nor 1",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.string("k")
                $0.u32(7)
                $0.u8(2)
            }, expected: "bool value 2"),
        Case(
            name: "duplicate metadata key",
            bytes: build {
                $0.header(tensors: 0, metadata: 2)
                $0.keyU32("k", 1)
                $0.keyU32("k", 2)
            }, expected: "duplicate metadata key 'k'"),
        Case(
            name: "alignment not a power of two",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.keyU32("general.alignment", 24)
            }, expected: "power of two"),
        Case(
            name: "alignment zero",
            bytes: build {
                $0.header(tensors: 0, metadata: 1)
                $0.keyU32("general.alignment", 0)
            }, expected: "power of two"),
        Case(
            name: "dimension product wraps",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [1 << 32, 1 << 32, 1 << 32], type: 0, offset: 0)
                $0.data(count: 32)
            }, expected: "element count overflows"),
        Case(
            name: "byte size wraps",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [Int64.max / 2], type: 0, offset: 0)
                $0.data(count: 32)
            }, expected: "byte size overflows"),
        Case(
            name: "negative dimension",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [-8], type: 0, offset: 0)
            }, expected: "dimension -8"),
        Case(
            name: "five dimensions",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [1, 1, 1, 1, 1], type: 0, offset: 0)
            }, expected: "5 dimensions"),
        Case(
            name: "unknown tensor type",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [32], type: 4, offset: 0)
            }, expected: "unknown or unsupported type 4"),
        Case(
            name: "tensor type past the table",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [32], type: 0xFFFF_FFFF, offset: 0)
            }, expected: "unknown or unsupported type"),
        Case(
            name: "row not a multiple of the block",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [33], type: 2, offset: 0)
            }, expected: "not a multiple"),
        Case(
            name: "tensor data past the end",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [64], type: 0, offset: 0)
                $0.data(count: 32)
            }, expected: "outside the file"),
        Case(
            name: "tensor offset near UInt64.max",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [8], type: 0, offset: UInt64(Int64.max) - 31)
                $0.data(count: 32)
            }, expected: "outside the file"),
        Case(
            name: "misaligned offset",
            bytes: build {
                $0.header(tensors: 1, metadata: 0)
                $0.tensorInfo("t", dims: [8], type: 0, offset: 4)
                $0.data(count: 64)
            }, expected: "not aligned"),
        Case(
            name: "overlapping tensors",
            bytes: build {
                $0.header(tensors: 2, metadata: 0)
                $0.tensorInfo("a", dims: [16], type: 0, offset: 0)
                $0.tensorInfo("b", dims: [16], type: 0, offset: 32)
                $0.data(count: 128)
            }, expected: "overlap"),
        Case(
            name: "duplicate tensor name",
            bytes: build {
                $0.header(tensors: 2, metadata: 0)
                $0.tensorInfo("t", dims: [8], type: 0, offset: 0)
                $0.tensorInfo("t", dims: [8], type: 0, offset: 32)
                $0.data(count: 64)
            }, expected: "duplicate tensor name"),
    ]

    @Test func validBaseParses() throws {
        let file = try GGUFFile(bytes: Self.valid())
        #expect(file.tensors.count == 1)
        #expect(file.string("general.architecture") == "llama")
        #expect(file.data(of: file.tensors[0]).count == 32)
    }

    @Test(arguments: cases)
    func malformedFileIsRefused(_ crafted: Case) {
        do {
            _ = try GGUFFile(bytes: crafted.bytes)
            Issue.record("\(crafted.name): accepted")
        } catch let error as GGUFError {
            #expect(error.description.contains(crafted.expected), "\(crafted.name): \(error.description)")
        } catch {
            Issue.record("\(crafted.name): unexpected error type \(error)")
        }
    }

    /// Every truncation of a valid file is refused cleanly: no prefix crashes the parser.
    @Test func everyTruncationIsRefused() {
        let bytes = Self.valid()
        for length in 0..<bytes.count - 32 {
            #expect(throws: GGUFError.self) { try GGUFFile(bytes: Array(bytes.prefix(length))) }
        }
    }
}
