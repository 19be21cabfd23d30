import Foundation
import KilnFormats
import KilnText
import Testing

/// The shared hyperparameter readers (`TransformerConfiguration+Metadata.swift`) on metadata-only
/// GGUF files written here: RoPE scaling as llama.cpp reads `rope.scaling.*`, the sliding window
/// and its pattern, and the LongRoPE keys.
@Suite struct ArchitectureMetadataTests {
    enum Value {
        case uint32(UInt32)
        case float32(Float)
        case string(String)
    }

    /// A GGUF v3 file with no tensors and `extra` on top of a small model's required keys.
    static func configuration(_ architecture: String, _ extra: [String: Value]) throws -> TransformerConfiguration {
        var metadata: [String: Value] = [
            "general.architecture": .string(architecture), "\(architecture).context_length": .uint32(4096),
            "\(architecture).embedding_length": .uint32(64), "\(architecture).block_count": .uint32(4),
            "\(architecture).feed_forward_length": .uint32(128), "\(architecture).attention.head_count": .uint32(4),
            "\(architecture).vocab_size": .uint32(100),
        ]
        metadata.merge(extra) { $1 }
        var bytes = Array("GGUF".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func append(_ string: String) {
            append(UInt64(string.utf8.count))
            bytes += Array(string.utf8)
        }
        append(UInt32(3))
        append(UInt64(0))
        append(UInt64(metadata.count))
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            append(key)
            switch value {
            case .uint32(let v):
                append(UInt32(4))
                append(v)
            case .float32(let v):
                append(UInt32(6))
                append(v.bitPattern)
            case .string(let v):
                append(UInt32(8))
                append(v)
            }
        }
        return try TransformerConfiguration(file: GGUFFile(bytes: bytes))
    }

    @Test func ropeScalingIsReadAsLlamaCppReadsIt() throws {
        #expect(try Self.configuration("llama", [:]).ropeFrequencyScale == 1)
        // An absent type is linear, by rope.scaling.factor or the older rope.scale_linear.
        #expect(try Self.configuration("llama", ["llama.rope.scaling.factor": .float32(4)]).ropeFrequencyScale == 0.25)
        #expect(try Self.configuration("llama", ["llama.rope.scale_linear": .float32(2)]).ropeFrequencyScale == 0.5)
        let none = try Self.configuration(
            "llama", ["llama.rope.scaling.type": .string("none"), "llama.rope.scaling.factor": .float32(4)])
        #expect(none.ropeFrequencyScale == 1)
        let longrope = try Self.configuration("phi3", ["phi3.rope.scaling.type": .string("longrope")])
        #expect(longrope.ropeFrequencyScale == 1)
        let yarn = try Self.configuration(
            "qwen2", ["qwen2.rope.scaling.type": .string("yarn"), "qwen2.rope.scaling.factor": .float32(4)])
        #expect(yarn.ropeYarn && yarn.ropeFrequencyScale == 0.25)
        #expect(try !Self.configuration("qwen2", ["qwen2.rope.scaling.factor": .float32(4)]).ropeYarn)
        let error = #expect(throws: ModelError.self) {
            try Self.configuration("qwen2", ["qwen2.rope.scaling.type": .string("dynamic")])
        }
        let message = error.map { "\($0)" } ?? ""
        #expect(message.contains("qwen2.rope.scaling.type") && message.contains("'dynamic'"))
    }

    @Test func longRopeKeysDefaultToNoScaling() throws {
        let plain = try Self.configuration("phi3", [:])
        #expect(plain.ropeOriginalContextLength == 4096 && plain.ropeAttentionFactor == 1)
        let long = try Self.configuration(
            "phi3",
            [
                "phi3.rope.scaling.original_context_length": .uint32(1024),
                "phi3.rope.scaling.attn_factor": .float32(1.19),
            ])
        #expect(long.ropeOriginalContextLength == 1024 && long.ropeAttentionFactor == 1.19)
        #expect(throws: ModelError.self) {
            try Self.configuration("phi3", ["phi3.rope.scaling.attn_factor": .float32(-1)])
        }
    }

    @Test func slidingWindowOfLlamaSlidesEveryLayerUnlessAPatternSaysOtherwise() throws {
        #expect(try Self.configuration("llama", [:]).slidingWindow == 0)
        let mistral = try Self.configuration(
            "llama", ["llama.attention.sliding_window": .uint32(8), "llama.rope.freq_base": .float32(1e6)])
        #expect(mistral.slidingWindow == 8 && (0..<4).allSatisfy { mistral.isSlidingWindow(layer: $0) })
        // The sliding layers keep the global RoPE (no second table).
        #expect(mistral.slidingWindowRopeFrequencyBase == 1e6)
        let patterned = try Self.configuration(
            "llama", ["llama.attention.sliding_window": .uint32(8), "llama.attention.sliding_window_pattern": .uint32(2)])
        #expect((0..<4).map { patterned.isSlidingWindow(layer: $0) } == [true, false, true, false])
        // Gemma 3 keeps its own default period (6: five sliding layers, then a global one), which
        // slides all of a model of 4 layers, as in llama.cpp.
        let gemma = try Self.configuration("gemma3", ["gemma3.attention.sliding_window": .uint32(8)])
        #expect((0..<4).allSatisfy { gemma.isSlidingWindow(layer: $0) } && gemma.slidingWindowRopeFrequencyBase == 10_000)
        // phi3 attends globally whatever the file says, as llama.cpp does.
        #expect(try Self.configuration("phi3", ["phi3.attention.sliding_window": .uint32(2047)]).slidingWindow == 0)
    }
}
