import Foundation
import KilnFormats
import Testing

@Suite struct SafetensorsTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/safetensors/small.safetensors").path

    @Test func readsAFileWrittenByTheReferenceLibrary() throws {
        let file = try SafetensorsFile(path: Self.fixture)
        #expect(file.metadata == ["format": "pt", "note": "kiln fixture"])
        #expect(file.tensors.count == 4)
        let a = try #require(file.tensor(named: "a.weight"))
        #expect(a.dtype == .f32 && a.shape == [2, 3])
        let values = file.data(of: a).withMemoryRebound(to: Float.self) { Array($0) }
        #expect(values == [0, 1, 2, 3, 4, 5])
        let b = try #require(file.tensor(named: "b.bias"))
        let halves = file.data(of: b).withMemoryRebound(to: Float16.self) { $0.map(Float.init) }
        #expect(halves == [1.5, -2])
        let ids = try #require(file.tensor(named: "c.ids"))
        #expect(file.data(of: ids).withMemoryRebound(to: Int64.self) { Array($0) } == [1, 2, 3])
        #expect(file.tensor(named: "scalar")?.shape == [])
    }

    /// A file: 8-byte header length, the header text, then `data` bytes.
    static func file(header: String, data: Int, declaredLength: UInt64? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(header.utf8.count)).littleEndian) { bytes += $0 }
        bytes += Array(header.utf8)
        bytes += [UInt8](repeating: 0, count: data)
        return bytes
    }

    @Test(
        arguments: [
            ("too short", [UInt8](repeating: 0, count: 4), "too short"),
            ("header longer than 100 MB", file(header: "{}", data: 0, declaredLength: 200_000_000), "exceeds"),
            ("header past the end", file(header: "{}", data: 0, declaredLength: 64), "past the end"),
            ("not JSON", file(header: "{nope", data: 0), "not valid JSON"),
            ("not an object", file(header: "[1]", data: 0), "not a JSON object"),
            ("invalid UTF-8", [2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE], "not valid JSON"),
            ("unknown dtype", file(header: #"{"t":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}"#, data: 1), "unsupported dtype"),
            ("negative dimension", file(header: #"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4), "invalid dimension"),
            ("size overflow", file(header: #"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: 4), "overflows"),
            ("offsets disagree with shape", file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: 4), "span 4 bytes"),
            ("offsets reversed", file(header: #"{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, data: 4), "ordered"),
            (
                "gap between tensors",
                file(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#, data: 3),
                "contiguous"
            ),
            (
                "overlapping tensors",
                file(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#, data: 3),
                "contiguous"
            ),
            ("data past the end", file(header: #"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8), "cover 16 bytes"),
            ("trailing bytes", file(header: #"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: 5), "holds 5"),
            ("metadata not strings", file(header: #"{"__metadata__":{"k":1}}"#, data: 0), "must be a string"),
            (
                "duplicate tensor",
                file(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: 2),
                "duplicate"
            ),
            ("deeply nested header", file(header: String(repeating: "[", count: 5000), data: 0), "not valid JSON"),
        ] as [(String, [UInt8], String)])
    func malformedFileIsRefused(name: String, bytes: [UInt8], expected: String) {
        do {
            _ = try SafetensorsFile(bytes: bytes)
            Issue.record("\(name): accepted")
        } catch let error as FormatError {
            #expect(error.description.contains(expected), "\(name): \(error.description)")
        } catch {
            Issue.record("\(name): unexpected \(error)")
        }
    }
}
