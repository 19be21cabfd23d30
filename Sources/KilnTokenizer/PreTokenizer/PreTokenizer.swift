/// How byte-level BPE text is split into words before merging, named by `tokenizer.ggml.pre`.
///
/// Each case reproduces the regular expressions llama.cpp uses for that name, applied one after
/// another (each splits the pieces the previous one produced), with hand-written scanners
/// instead of a regex engine.
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// GPT-2's expression: contractions, letter runs, number runs, other runs, whitespace.
    case gpt2
    /// Llama 3: like GPT-2 but with numbers in groups of at most three digits, case-insensitive
    /// contractions, and a leading non-letter joined to the word that follows it.
    case llama3
    /// Qwen 2: the Llama 3 expression with every digit a piece of its own.
    case qwen2
    /// Qwen 3.5: Qwen 2's expression with combining marks joined to the letters around them.
    case qwen35
    /// SmolLM, StarCoder and others: every digit isolated first, then GPT-2's expression.
    case smollm
    /// Falcon: punctuation runs, then GPT-2's expression, then groups of three ASCII digits.
    case falcon
    /// DeepSeek Coder: newlines isolated, then letter runs and punctuation runs (each with one
    /// optional leading space), CJK runs, and every digit a piece of its own.
    case deepseekCoder = "deepseek-coder"
    /// DeepSeek LLM: like DeepSeek Coder but over explicit character sets (cased letters of
    /// Latin, Greek, Cyrillic and other bicameral scripts; ASCII and full-width punctuation),
    /// with trailing whitespace split off and numbers in runs.
    case deepseekLLM = "deepseek-llm"
    /// Gemma 4: runs of newlines and runs of anything else. Spaces are written `▁` first and
    /// symbols are UTF-8 characters, not GPT-2 alphabet bytes (see `Tokenizer.Kind.spaceEscapedBPE`).
    case gemma4
    /// llama.cpp's fallback for unknown names: punctuation runs, GPT-2, number runs, digit triples.
    case `default`

    /// What a `tokenizer.ggml.pre` name selects, with the tokenizer flags llama.cpp ties to it.
    struct Selection {
        var preTokenizer: PreTokenizer
        /// Whether a whole word that is already a token skips the merges (Llama 3).
        var ignoresMerges = false
        /// Whether BOS is added unless the file says otherwise.
        var addsBOSByDefault = false
        /// Whether detokenization removes spaces before punctuation (`clean_up_tokenization_spaces`).
        var cleansSpaces = true
        /// Whether the model has no default BOS token (ChatGLM).
        var hasNoDefaultBOS = false
        /// Whether spaces become `▁` and symbols are raw UTF-8 characters with `<0xXX>` byte
        /// fallback, not GPT-2 alphabet bytes (Gemma 4). A run of newlines that is a token is
        /// then taken whole, without merging.
        var escapesSpaces = false
        /// Whether BOS is added even where the file turns it off (llama.cpp's Gemma 4 override).
        var forcesBOS = false
    }

    /// The pre-tokenizer and flags for a `tokenizer.ggml.pre` value, following llama.cpp's table
    /// (as vendored in llama-cpp-python 0.3.36) for every name whose expressions Kiln implements.
    /// A missing name means `default`; nil means a name Kiln does not implement.
    static func select(name: String?) -> Selection? {
        guard let name, !name.isEmpty else { return Selection(preTokenizer: .default) }
        switch name {
        case "default":
            return Selection(preTokenizer: .default)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            return Selection(preTokenizer: .llama3, ignoresMerges: true, addsBOSByDefault: true)
        case "dbrx", "smaug-bpe":
            return Selection(preTokenizer: .llama3)
        case "chatglm-bpe":
            return Selection(preTokenizer: .llama3, hasNoDefaultBOS: true)
        case "glm4", "glm5":
            return Selection(preTokenizer: .llama3, ignoresMerges: true, hasNoDefaultBOS: true)
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
            "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4", "jina-v1-en", "jina-v2-code",
            "roberta-bpe":
            return Selection(preTokenizer: .gpt2)
        case "trillion", "granite-docling":
            return Selection(preTokenizer: .gpt2, cleansSpaces: false)
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2":
            return Selection(preTokenizer: .qwen2, cleansSpaces: false)
        case "qwen35":
            return Selection(preTokenizer: .qwen35, cleansSpaces: false)
        case "deepseek-coder":
            return Selection(preTokenizer: .deepseekCoder, cleansSpaces: false)
        case "deepseek-llm":
            return Selection(preTokenizer: .deepseekLLM, cleansSpaces: false)
        case "gemma4", "granite-embed-multi-311m":
            return Selection(preTokenizer: .gemma4, hasNoDefaultBOS: true, escapesSpaces: true, forcesBOS: true)
        case "stablelm2", "megrez":
            return Selection(preTokenizer: .qwen2)
        case "smollm", "command-r":
            return Selection(preTokenizer: .smollm, cleansSpaces: false)
        case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
            return Selection(preTokenizer: .smollm)
        case "falcon":
            return Selection(preTokenizer: .falcon)
        default:
            return nil
        }
    }

    /// The words `text` is split into before merging (for inspection and tests; the tokenizer
    /// itself works on buffers).
    public func words(in text: String) -> [String] {
        var text = text
        return text.withUTF8 { bytes in
            var scalars: [UInt32] = [], classes: [UInt8] = [], offsets: [Int32] = []
            UTF8Scanner.decode(bytes, scalars: &scalars, classes: &classes, byteOffsets: &offsets)
            var ends: [Int32] = [], scratch: [Int32] = []
            scalars.withUnsafeBufferPointer { scalars in
                classes.withUnsafeBufferPointer { classes in
                    split(scalars, classes, into: &ends, scratch: &scratch)
                }
            }
            var start = 0
            return ends.map { end in
                defer { start = Int(end) }
                let range = Int(offsets[start])..<Int(offsets[Int(end)])
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            }
        }
    }

    /// Splits `scalars` into words, appending each word's end index (exclusive) to `ends`.
    /// `scratch` is reused between stages so that a call allocates at most once per buffer.
    func split(
        _ scalars: UnsafeBufferPointer<UInt32>, _ classes: UnsafeBufferPointer<UInt8>,
        into ends: inout [Int32], scratch: inout [Int32]
    ) {
        ends.removeAll(keepingCapacity: true)
        let count = scalars.count
        guard count > 0 else { return }
        typealias Scanner = PreTokenizerScanner
        switch self {
        case .gpt2:
            Scanner.splitGPT2(scalars, classes, start: 0, end: count, into: &ends)
        case .llama3:
            Scanner.splitLlama3(scalars, classes, start: 0, end: count, maximumDigits: 3, into: &ends)
        case .qwen2:
            Scanner.splitLlama3(scalars, classes, start: 0, end: count, maximumDigits: 1, into: &ends)
        case .qwen35:
            Scanner.splitLlama3(scalars, classes, start: 0, end: count, maximumDigits: 1, joinsMarks: true, into: &ends)
        case .deepseekCoder, .deepseekLLM:
            splitDeepSeek(scalars, classes, into: &ends, scratch: &scratch)
        case .gemma4:
            Scanner.splitRuns(scalars, classes, start: 0, end: count, into: &ends) { scalar, _ in scalar == 0x0A }
        case .smollm:
            scratch.removeAll(keepingCapacity: true)
            Scanner.isolateNumbers(classes, start: 0, end: count, into: &scratch)
            Self.refine(scratch, into: &ends) { start, end, out in
                Scanner.splitGPT2(scalars, classes, start: start, end: end, into: &out)
            }
        case .falcon, .default:
            let backtick = self == .falcon
            Scanner.splitRuns(scalars, classes, start: 0, end: count, into: &ends) { scalar, classBits in
                Self.isPunctuationRunMember(scalar, classBits, includesBacktick: backtick)
            }
            Self.refine(ends, into: &scratch) { start, end, out in
                Scanner.splitGPT2(scalars, classes, start: start, end: end, into: &out)
            }
            if self == .default {
                Self.refine(scratch, into: &ends) { start, end, out in
                    Scanner.splitRuns(scalars, classes, start: start, end: end, into: &out) { _, classBits in
                        classBits & CodepointClass.number.rawValue != 0
                    }
                }
                swap(&ends, &scratch)
            }
            Self.refine(scratch, into: &ends) { start, end, out in
                Scanner.splitDigitTriples(scalars, start: start, end: end, into: &out)
            }
        }
    }

    /// Applies a scanner to every piece of `pieces`, collecting the finer pieces in `output`.
    static func refine(
        _ pieces: [Int32], into output: inout [Int32],
        _ scan: (Int, Int, inout [Int32]) -> Void
    ) {
        output.removeAll(keepingCapacity: true)
        var start = 0
        for end in pieces {
            scan(start, Int(end), &output)
            start = Int(end)
        }
    }

    /// `[\p{P}\$\+<=>\^~\|]` (Falcon adds the backtick).
    private static func isPunctuationRunMember(_ scalar: UInt32, _ classBits: UInt8, includesBacktick: Bool) -> Bool {
        if classBits & CodepointClass.punctuation.rawValue != 0 { return true }
        switch scalar {
        case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true  // $ + < = > ^ ~ |
        case 0x60: return includesBacktick
        default: return false
        }
    }
}
