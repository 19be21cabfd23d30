import Foundation
import KilnFormats
import KilnTensor
import Testing

/// KilnTensor's dequantization must equal the `gguf` Python package's output bit for bit.
/// Fixtures: Tests/Fixtures/quant (see PROVENANCE.md there).
@Suite struct DequantizationFixtureTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/quant")

    static let cases: [(String, GGMLType)] = [
        ("f32", .f32), ("f16", .f16), ("bf16", .bf16), ("q4_0", .q4_0), ("q4_1", .q4_1),
        ("q5_0", .q5_0), ("q5_1", .q5_1), ("q8_0", .q8_0), ("q4_K", .q4_K), ("q5_K", .q5_K), ("q6_K", .q6_K),
        ("q2_K", .q2_K), ("q3_K", .q3_K), ("iq4_nl", .iq4_nl), ("iq4_xs", .iq4_xs),
    ]

    @Test(arguments: cases)
    func matchesGGUFPackageBitForBit(name: String, type: GGMLType) throws {
        let raw = try Data(contentsOf: Self.directory.appendingPathComponent("\(name).bin"))
        let expectedData = try Data(contentsOf: Self.directory.appendingPathComponent("\(name).f32"))
        let count = expectedData.count / 4
        #expect(count > 0 && count % type.blockSize == 0)
        #expect(raw.count == count / type.blockSize * type.typeSize)
        let expected: [UInt32] = expectedData.withUnsafeBytes { bytes in
            (0..<count).map { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        var actual = [Float](repeating: .nan, count: count)
        raw.withUnsafeBytes { bytes in
            Dequantization.dequantize(type, from: bytes.baseAddress!, count: count, into: &actual)
        }
        var mismatches = 0
        for i in 0..<count where actual[i].bitPattern != expected[i] {
            if mismatches < 5 {
                Issue.record("\(name)[\(i)]: got \(actual[i]) expected \(Float(bitPattern: expected[i]))")
            }
            mismatches += 1
        }
        #expect(mismatches == 0, "\(name): \(mismatches) of \(count) elements differ")
    }

    @Test func manifestListsEveryType() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("manifest.json"))
        let manifest = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        for (name, type) in Self.cases {
            let entry = manifest[name] as? [String: Any]
            #expect((entry?["ggml_type"] as? Int) == Int(type.rawValue), "\(name)")
        }
    }
}
