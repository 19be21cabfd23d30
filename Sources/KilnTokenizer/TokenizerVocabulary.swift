import KilnFormats

/// The tokenizer-related metadata of a GGUF file, as plain values.
///
/// `Tokenizer` is built from this rather than from `GGUFFile` directly, so that tests can build
/// small vocabularies by hand and so that all reading of untrusted metadata happens in one place.
public struct TokenizerVocabulary: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), "bert"
    /// (WordPiece), "t5" (unigram) or "gemma4" (BPE over `▁`-escaped UTF-8).
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer's name, for byte-level BPE.
    public var preTokenizer: String?
    /// `tokenizer.ggml.tokens`: each token's text, indexed by id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type`, one per token; nil means every token is normal.
    public var tokenTypes: [Int]?
    /// `tokenizer.ggml.scores`, SentencePiece merge priorities; missing entries count as 0.
    public var scores: [Float]?
    /// `tokenizer.ggml.merges`: "A B" pairs, highest priority first (byte-level BPE).
    public var merges: [String]?
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var eotTokenID: Int?
    public var eomTokenID: Int?
    public var unknownTokenID: Int?
    public var paddingTokenID: Int?
    public var separatorTokenID: Int?
    public var fimPadTokenID: Int?
    public var fimRepoTokenID: Int?
    public var fimSeparatorTokenID: Int?
    /// `tokenizer.ggml.add_bos_token` etc.; nil leaves the model's default.
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var addSpacePrefix: Bool?
    /// `tokenizer.ggml.remove_extra_whitespaces` (unigram): runs of spaces collapse into one `▁`.
    public var removeExtraWhitespaces: Bool?
    /// `tokenizer.ggml.precompiled_charsmap` (unigram): SentencePiece's compiled normaliser.
    public var precompiledCharsmap: [UInt8]?
    /// `general.name`, which llama.cpp consults for per-model token attributes (Phi-3).
    public var modelName: String?
    /// `tokenizer.ggml.cls_token_id` (BERT's `[CLS]`): the BOS of a WordPiece vocabulary that names no BOS.
    public var clsTokenID: Int?
    /// `tokenizer.ggml.normalizer.lowercase` and `.strip_accents` (WordPiece); nil leaves
    /// llama.cpp's defaults: lower-case, and strip accents when lower-casing.
    public var normalizerLowercase: Bool?
    public var normalizerStripAccents: Bool?
    /// The WordPiece options of a Hugging Face `tokenizer.json`; nil for a GGUF's "bert" model,
    /// whose options come from the keys above.
    public var wordPiece: WordPieceSettings?
    /// Recognise control tokens in text even without `parseSpecial`, as Hugging Face's
    /// `tokenizers` does with its added tokens (set for a `tokenizer.json`).
    public var alwaysParsesSpecialTokens = false
    /// Added tokens of a `tokenizer.json` that absorb whitespace beside them (`lstrip`, `rstrip`).
    var strippingTokens: [(id: Int, left: Bool, right: Bool)] = []

    public init(
        model: String, preTokenizer: String? = nil, tokens: [String], tokenTypes: [Int]? = nil,
        scores: [Float]? = nil, merges: [String]? = nil
    ) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.merges = merges
    }

    /// Reads the tokenizer metadata of `gguf`. Only metadata is read, so a vocabulary-only file works.
    public init(gguf: GGUFFile) throws(TokenizerError) {
        guard let model = gguf.string("tokenizer.ggml.model") else {
            throw .missingMetadata(key: "tokenizer.ggml.model")
        }
        guard let tokens = gguf.strings("tokenizer.ggml.tokens") else {
            throw .missingMetadata(key: "tokenizer.ggml.tokens")
        }
        self.init(model: model, preTokenizer: gguf.string("tokenizer.ggml.pre"), tokens: tokens)
        tokenTypes = try Self.optional(gguf, "tokenizer.ggml.token_type") { $0.ints($1) }
        scores = try Self.optional(gguf, "tokenizer.ggml.scores") { $0.floats($1) }
        merges = try Self.optional(gguf, "tokenizer.ggml.merges") { $0.strings($1) }
        bosTokenID = gguf.int("tokenizer.ggml.bos_token_id")
        eosTokenID = gguf.int("tokenizer.ggml.eos_token_id")
        eotTokenID = gguf.int("tokenizer.ggml.eot_token_id")
        eomTokenID = gguf.int("tokenizer.ggml.eom_token_id")
        unknownTokenID = gguf.int("tokenizer.ggml.unknown_token_id")
        paddingTokenID = gguf.int("tokenizer.ggml.padding_token_id")
        separatorTokenID = gguf.int("tokenizer.ggml.seperator_token_id") ?? gguf.int("tokenizer.ggml.separator_token_id")
        fimPadTokenID = gguf.int("tokenizer.ggml.fim_pad_token_id")
        fimRepoTokenID = gguf.int("tokenizer.ggml.fim_rep_token_id")
        fimSeparatorTokenID = gguf.int("tokenizer.ggml.fim_sep_token_id")
        addBOS = gguf.bool("tokenizer.ggml.add_bos_token")
        addEOS = gguf.bool("tokenizer.ggml.add_eos_token")
        addSpacePrefix = gguf.bool("tokenizer.ggml.add_space_prefix")
        removeExtraWhitespaces = gguf.bool("tokenizer.ggml.remove_extra_whitespaces")
        precompiledCharsmap = try Self.optional(gguf, "tokenizer.ggml.precompiled_charsmap") { gguf, key in
            gguf.ints(key)?.map { UInt8(truncatingIfNeeded: $0) }
        }
        modelName = gguf.string("general.name")
        clsTokenID = gguf.int("tokenizer.ggml.cls_token_id")
        normalizerLowercase = gguf.bool("tokenizer.ggml.normalizer.lowercase")
        normalizerStripAccents = gguf.bool("tokenizer.ggml.normalizer.strip_accents")
    }

    /// A value that may be absent, but must have the right type when present.
    private static func optional<T>(
        _ gguf: GGUFFile, _ key: String,
        _ read: (GGUFFile, String) -> T?
    ) throws(TokenizerError) -> T? {
        guard gguf.metadata[key] != nil else { return nil }
        guard let value = read(gguf, key) else { throw .missingMetadata(key: key) }
        return value
    }

    /// Fills in what llama.cpp assumes of a "bert" vocabulary from a GGUF (one from a
    /// `tokenizer.json` has its settings already): the normaliser from its keys, [CLS] 101 as BOS
    /// (or `cls_token_id`), [SEP] 102 as EOS, [UNK] 100, [PAD] 0, and both added by
    /// `addSpecial` whatever `add_bos_token` says, as llama.cpp's `tokenize` does. The text itself
    /// is normalised and split as Hugging Face does (the model's own tokenizer, which made
    /// llama.cpp's reference ids), where llama.cpp approximates it: a word over 100 characters is
    /// [UNK], accents go by full NFD and `Mn` rather than llama.cpp's one-scalar table and `M*`.
    mutating func applyWordPieceDefaults() {
        guard wordPiece == nil else { return }
        var settings = WordPieceSettings(continuingSubwordPrefix: nil)
        settings.lowercase = normalizerLowercase ?? true
        settings.stripAccents = normalizerStripAccents ?? settings.lowercase
        wordPiece = settings
        bosTokenID = bosTokenID ?? clsTokenID ?? 101
        eosTokenID = separatorTokenID ?? eosTokenID ?? 102
        unknownTokenID = unknownTokenID ?? 100
        paddingTokenID = paddingTokenID ?? 0
        addBOS = true
        addEOS = true
    }

    /// Fills in llama.cpp's defaults for a "t5" (unigram) vocabulary: EOS 1, unknown 2,
    /// padding 0, no BOS; EOS added and BOS not unless the file says otherwise.
    mutating func applyUnigramDefaults() {
        eosTokenID = eosTokenID ?? 1
        unknownTokenID = unknownTokenID ?? 2
        paddingTokenID = paddingTokenID ?? 0
        addBOS = addBOS ?? false
        addEOS = addEOS ?? true
    }

    /// Checks counts and lengths against `limits` before anything is built from them.
    func validate(limits: TokenizerLimits) throws(TokenizerError) {
        guard !tokens.isEmpty else { throw .invalidMetadata("the vocabulary is empty") }
        guard tokens.count <= limits.maxVocabularySize else {
            throw .invalidMetadata("\(tokens.count) tokens exceed the limit of \(limits.maxVocabularySize)")
        }
        if let longest = tokens.lazy.map(\.utf8.count).max(), longest > limits.maxTokenBytes {
            throw .invalidMetadata("a token of \(longest) bytes exceeds the limit of \(limits.maxTokenBytes)")
        }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw .invalidMetadata("token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        if let merges, merges.count > limits.maxMergeCount {
            throw .invalidMetadata("\(merges.count) merges exceed the limit of \(limits.maxMergeCount)")
        }
    }
}
