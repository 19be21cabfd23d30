/// The element types of GGML tensors, as numbered in GGUF files.
///
/// Quantized types store elements in blocks: `blockSize` elements take `typeSize` bytes.
/// Only the types Kiln can read are listed; any other number in a file is rejected.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case iq4_nl = 20
    case iq4_xs = 23
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case bf16 = 30

    /// Elements per block: 1 for plain types, 32 for the classic quants, 256 for K-quants.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq4_xs: return 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 18  // f16 scale + 16 bytes of nibbles
        case .q4_1: return 20  // f16 scale + f16 min + 16 bytes of nibbles
        case .q5_0: return 22  // f16 scale + 4 bytes of high bits + 16 bytes of nibbles
        case .q5_1: return 24  // f16 scale + f16 min + 4 + 16
        case .q8_0: return 34  // f16 scale + 32 int8
        case .q8_1: return 36  // f16 scale + f16 sum + 32 int8
        case .iq4_nl: return 18  // f16 scale + 16 bytes of nibbles indexing a 16-value table
        case .iq4_xs: return 136  // f16 scale + u16 high scale bits + 4 bytes of low scale bits + 128 bytes of nibbles
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        }
    }

    /// The name llama.cpp prints for the type, e.g. `Q4_1`.
    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .iq4_nl: return "IQ4_NL"
        case .iq4_xs: return "IQ4_XS"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        }
    }
}
