import KilnFormats
import Testing

/// GGUF files may hold Q2_K, Q3_K, IQ4_NL and IQ4_XS tensors (GGML types 10, 11, 20, 23): the parser
/// must take them with their block sizes, so that each tensor's data is the right number of bytes.
@Suite struct LowBitTensorTypeTests {
    @Test func lowBitTensorsParseWithTheirBlockSizes() throws {
        // (name, GGML type, row length, rows, bytes, offset aligned to 32)
        let tensors: [(String, UInt32, Int64, Int64, Int, UInt64)] = [
            ("q2_k", 10, 256, 2, 2 * 84, 0), ("q3_k", 11, 256, 2, 2 * 110, 192),
            ("iq4_nl", 20, 32, 2, 2 * 18, 416), ("iq4_xs", 23, 256, 2, 2 * 136, 480),
        ]
        var builder = GGUFBuilder()
        builder.header(tensors: UInt64(tensors.count), metadata: 1)
        builder.keyString("general.architecture", "llama")
        for (name, type, columns, rows, _, offset) in tensors {
            builder.tensorInfo(name, dims: [columns, rows], type: type, offset: offset)
        }
        builder.data(count: 480 + 2 * 136)
        let file = try GGUFFile(bytes: builder.bytes)
        for (name, type, _, _, bytes, _) in tensors {
            let info = try #require(file.tensor(named: name))
            #expect(info.type.rawValue == type, "\(name)")
            #expect(file.data(of: info).count == bytes, "\(name)")
        }
        #expect(GGMLType.iq4_xs.blockSize == 256 && GGMLType.iq4_xs.typeSize == 136)
        #expect(GGMLType.iq4_xs.description == "IQ4_XS")
    }
}
