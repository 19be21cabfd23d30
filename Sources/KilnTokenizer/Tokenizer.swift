import KilnFormats

/// Turns text into token ids and back, built from a GGUF file's tokenizer metadata.
///
/// Five kinds are supported, chosen by `tokenizer.ggml.model`:
/// - `"gpt2"`: byte-level BPE. Text is split into words by the pre-tokenizer named in
///   `tokenizer.ggml.pre` (see `PreTokenizer`), then each word's bytes are merged by the ranks of
///   `tokenizer.ggml.merges`. Used by GPT-2, Llama 3, Qwen 2, SmolLM and most recent models.
/// - `"llama"`: SentencePiece-style BPE with byte fallback, merged by `tokenizer.ggml.scores`.
///   Used by Llama 2, Mistral v1 and Phi-3.
/// - `"t5"`: SentencePiece's unigram model over its precompiled normaliser (see
///   `UnigramEncoder`), for T5- and XLM-RoBERTa-style models.
/// - `"gemma4"`: BPE by the ranks of `tokenizer.ggml.merges` over UTF-8 characters, spaces
///   written `▁`, with `<0xXX>` byte fallback (llama.cpp's SentencePiece-style BPE).
/// - `"bert"`: WordPiece with BERT's normaliser (see `WordPieceEncoder`), for embedding models;
///   also built from a Hugging Face `tokenizer.json` (`init(huggingFaceJSONAt:)`). There BOS is
///   `[CLS]`, EOS is `[SEP]` and `paddingToken` is `[PAD]`: `encode(_:addSpecial: true)` gives
///   `[CLS] … [SEP]`, as llama.cpp and Hugging Face's `add_special_tokens=True` do.
///
/// Encoding reproduces llama.cpp's `llama_tokenize` id for id, including its handling of special
/// tokens in text, BOS/EOS and the SentencePiece space prefix. Only metadata is read, so a
/// vocabulary-only GGUF file is enough. A `Tokenizer` is immutable (each `encode` call keeps its
/// own scratch buffers and word cache), so one instance can serve any number of threads.
///
/// ```swift
/// let tokenizer = try Tokenizer(gguf: GGUFFile(path: path))
/// let ids = tokenizer.encode("<|im_start|>user\nHi", addSpecial: false, parseSpecial: true)
/// let text = tokenizer.decode(ids)
/// ```
public final class Tokenizer: Sendable {
    /// The tokenization algorithm.
    public enum Kind: String, Sendable {
        /// Byte-level BPE (`tokenizer.ggml.model = "gpt2"`).
        case byteLevelBPE
        /// SentencePiece-style BPE with byte fallback (`tokenizer.ggml.model = "llama"`).
        case sentencePiece
        /// BERT's WordPiece (`tokenizer.ggml.model = "bert"`, or a Hugging Face `tokenizer.json`).
        case wordPiece
        /// BPE by merge ranks over raw UTF-8 characters with spaces written `▁` and `<0xXX>`
        /// byte fallback (`tokenizer.ggml.model = "gemma4"`, or the pre-tokenizer `gemma4`).
        case spaceEscapedBPE
        /// SentencePiece's unigram model, Viterbi over token scores (`tokenizer.ggml.model = "t5"`).
        case unigram
    }

    public let kind: Kind
    /// The BPE pre-tokenizer (nil for SentencePiece and WordPiece).
    public let preTokenizer: PreTokenizer?
    /// Problems found while loading that did not stop it, e.g. an unknown pre-tokenizer name
    /// replaced by llama.cpp's default. Worth showing to the user.
    public let warnings: [String]

    /// Beginning-of-sequence token, if the vocabulary has one (WordPiece: `[CLS]`).
    public let bosToken: Int32?
    /// End-of-sequence token (WordPiece: `[SEP]`).
    public let eosToken: Int32?
    /// End-of-turn token (`<|im_end|>`, `<|eot_id|>`, …), from metadata or found by its text.
    public let eotToken: Int32?
    /// The unknown token (SentencePiece byte fallback uses it when a byte has no token).
    public let unknownToken: Int32?
    /// The padding token, if the vocabulary names one (WordPiece: `[PAD]`).
    public let paddingToken: Int32?
    /// Every token that ends generation: EOS, EOT, EOM and the other end markers llama.cpp knows.
    public let endOfGenerationTokens: Set<Int32>
    /// Whether `encode(_:addSpecial: true)` prepends BOS / appends EOS (from metadata, else the
    /// model's default; WordPiece: from the post-processor, always for a GGUF as in llama.cpp).
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// Whether SentencePiece prefixes a space to text that starts the input or follows a special
    /// token (`tokenizer.ggml.add_space_prefix`); decoding then drops the first token's space.
    public let addsSpacePrefix: Bool
    /// Whether `decode(_:cleanUpSpaces: true)` removes spaces before punctuation.
    public let cleansUpSpaces: Bool

    private let tokenTexts: [String]
    let attributeTable: [TokenAttributes]
    /// `vocabularySize + 1` offsets into `pieceStorage`: token i renders to `pieceStorage[pieceOffsets[i]..<pieceOffsets[i + 1]]`.
    let pieceOffsets: [Int32]
    let pieceStorage: [UInt8]
    private let splitter: SpecialTokenSplitter
    private let byteLevel: ByteLevelBPEEncoder?
    private let sentencePiece: SentencePieceEncoder?
    private let wordPiece: WordPieceEncoder?
    private let unigram: UnigramEncoder?

    /// Builds the tokenizer described by `gguf`'s metadata. Tensors are not touched.
    public convenience init(gguf: GGUFFile, limits: TokenizerLimits = TokenizerLimits()) throws(TokenizerError) {
        try self.init(vocabulary: TokenizerVocabulary(gguf: gguf), limits: limits)
    }

    /// Maps the GGUF file at `path` and builds its tokenizer (weights are mapped, not read).
    /// Throws `GGUFError` for a malformed file and `TokenizerError` for unusable metadata.
    public convenience init(modelAt path: String, limits: TokenizerLimits = TokenizerLimits()) throws {
        try self.init(gguf: GGUFFile(path: path), limits: limits)
    }

    /// Builds the WordPiece tokenizer of a Hugging Face `tokenizer.json` (a sentence-transformers
    /// folder's, say); see `TokenizerVocabulary.init(huggingFaceJSON:)` for what is supported.
    /// Its added tokens (`[CLS]`, `[SEP]`, …) are recognised in text whatever `parseSpecial`
    /// says, as in Hugging Face's `tokenizers`.
    public convenience init(huggingFaceJSONAt path: String, limits: TokenizerLimits = TokenizerLimits()) throws(TokenizerError) {
        try self.init(vocabulary: TokenizerVocabulary(huggingFaceJSON: TokenizerVocabulary.readFile(path)), limits: limits)
    }

    /// Builds a tokenizer from metadata values.
    public init(vocabulary: TokenizerVocabulary, limits: TokenizerLimits = TokenizerLimits()) throws(TokenizerError) {
        try vocabulary.validate(limits: limits)
        var warnings: [String] = []
        let isSentencePiece: Bool
        var isUnigram = false
        var vocabulary = vocabulary
        switch vocabulary.model {
        case "gpt2": isSentencePiece = false
        case "gemma4":
            // llama.cpp ignores the file's pre-tokenizer name for this model.
            isSentencePiece = false
            vocabulary.preTokenizer = "gemma4"
        case "llama": isSentencePiece = true
        case "t5":
            isSentencePiece = false
            isUnigram = true
            vocabulary.applyUnigramDefaults()
        case "bert":
            isSentencePiece = false
            vocabulary.applyWordPieceDefaults()
        default: throw .unsupportedModel(vocabulary.model)
        }
        let tokens = vocabulary.tokens.enumerated().map { $1.isEmpty ? "[EMPTY_\($0)]" : $1 }
        var idForText: [String: Int32] = [:]
        idForText.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() { idForText[text] = Int32(id) }

        var attributes =
            vocabulary.tokenTypes?.map(TokenAttributes.init(tokenType:))
            ?? [TokenAttributes](repeating: .normal, count: tokens.count)
        for token in vocabulary.strippingTokens where token.id < attributes.count {
            if token.left { attributes[token.id].insert(.stripsLeft) }
            if token.right { attributes[token.id].insert(.stripsRight) }
        }
        let hasNoDefaultBOS =
            isUnigram || (!isSentencePiece && PreTokenizer.select(name: vocabulary.preTokenizer)?.hasNoDefaultBOS == true)
        let roles = SpecialTokenRoles(
            vocabulary: vocabulary, isSentencePiece: isSentencePiece,
            hasNoDefaultBOS: hasNoDefaultBOS, idForText: idForText, attributes: &attributes)
        SpecialTokenRoles.applyModelRules(
            modelName: vocabulary.modelName, idForText: idForText,
            attributes: &attributes)

        var piecesUseSpaceMarks = isSentencePiece || isUnigram
        if let settings = vocabulary.wordPiece {
            guard let unknown = roles.unknown else { throw .missingMetadata(key: "tokenizer.ggml.unknown_token_id") }
            kind = .wordPiece
            preTokenizer = nil
            addsBOS = vocabulary.addBOS ?? true
            addsSpacePrefix = false
            cleansUpSpaces = settings.cleansUpSpaces
            byteLevel = nil
            sentencePiece = nil
            unigram = nil
            wordPiece = WordPieceEncoder(
                tokens: tokens, form: settings.continuingSubwordPrefix.map { .continuingPrefix($0) } ?? .phantomSpace,
                normalizer: settings.normalizer, unknown: unknown,
                maxInputCharactersPerWord: settings.maxInputCharactersPerWord)
        } else if isUnigram {
            guard let unknown = roles.unknown else { throw .missingMetadata(key: "tokenizer.ggml.unknown_token_id") }
            kind = .unigram
            preTokenizer = nil
            addsBOS = vocabulary.addBOS ?? false
            let prefixesSpace = vocabulary.addSpacePrefix ?? false
            addsSpacePrefix = prefixesSpace
            cleansUpSpaces = false
            byteLevel = nil
            sentencePiece = nil
            wordPiece = nil
            unigram = UnigramEncoder(
                tokens: tokens, attributes: attributes, scores: vocabulary.scores, unknown: unknown,
                charsmap: vocabulary.precompiledCharsmap.flatMap(PrecompiledCharsmap.init), addsSpacePrefix: prefixesSpace,
                removesExtraWhitespaces: vocabulary.removeExtraWhitespaces ?? false)
        } else if isSentencePiece {
            kind = .sentencePiece
            preTokenizer = nil
            addsBOS = vocabulary.addBOS ?? true
            addsSpacePrefix = vocabulary.addSpacePrefix ?? true
            cleansUpSpaces = false
            byteLevel = nil
            sentencePiece = SentencePieceEncoder(tokens: tokens, scores: vocabulary.scores, unknown: roles.unknown)
            wordPiece = nil
            unigram = nil
        } else {
            guard let merges = vocabulary.merges else { throw .missingMetadata(key: "tokenizer.ggml.merges") }
            guard let selection = PreTokenizer.select(name: vocabulary.preTokenizer) else {
                throw .unsupportedPreTokenizer(vocabulary.preTokenizer ?? "")
            }
            if (vocabulary.preTokenizer ?? "").isEmpty {
                warnings.append("the file names no pre-tokenizer (tokenizer.ggml.pre): using llama.cpp's default splitting")
            }
            kind = selection.escapesSpaces ? .spaceEscapedBPE : .byteLevelBPE
            piecesUseSpaceMarks = selection.escapesSpaces
            preTokenizer = selection.preTokenizer
            addsBOS = selection.forcesBOS || (vocabulary.addBOS ?? selection.addsBOSByDefault)
            addsSpacePrefix = vocabulary.addSpacePrefix ?? false
            cleansUpSpaces = selection.cleansSpaces
            sentencePiece = nil
            wordPiece = nil
            unigram = nil
            byteLevel = ByteLevelBPEEncoder(
                tokens: tokens, merges: merges, preTokenizer: selection.preTokenizer,
                ignoresMerges: selection.ignoresMerges, escapesSpaces: selection.escapesSpaces, limits: limits)
        }
        addsEOS = vocabulary.addEOS ?? false
        if addsBOS && roles.bos == nil { warnings.append("the vocabulary asks for BOS but has no BOS token") }

        bosToken = roles.bos
        eosToken = roles.eos
        eotToken = roles.eot
        unknownToken = roles.unknown
        paddingToken = roles.padding
        endOfGenerationTokens = roles.endOfGeneration
        tokenTexts = tokens
        attributeTable = attributes
        self.warnings = warnings
        (pieceOffsets, pieceStorage) = Self.renderPieces(
            tokens, attributes: attributes,
            style: vocabulary.wordPiece.map { .wordPiece(continuingPrefix: $0.continuingSubwordPrefix) }
                ?? (piecesUseSpaceMarks ? .sentencePiece : .byteLevel))
        splitter = SpecialTokenSplitter(
            specials: attributes.indices.compactMap { id in
                let attribute = attributes[id]
                guard attribute.isSpecial else { return nil }
                return .init(
                    id: Int32(id), bytes: Array(tokens[id].utf8),
                    needsParseSpecial: attribute.isHiddenUnlessRendered && !vocabulary.alwaysParsesSpecialTokens,
                    stripsLeft: attribute.contains(.stripsLeft), stripsRight: attribute.contains(.stripsRight))
            })
    }

    /// The number of tokens in the vocabulary; valid ids are `0..<vocabularySize`.
    public var vocabularySize: Int { tokenTexts.count }

    /// One line describing the tokenizer, for load reports: kind, pre-tokenizer, size, BOS/EOS.
    public var summary: String {
        let algorithm =
            switch kind {
            case .byteLevelBPE: "byte-level BPE (\(preTokenizer?.rawValue ?? "?"))"
            case .spaceEscapedBPE: "BPE over ▁-escaped UTF-8 (\(preTokenizer?.rawValue ?? "?"))"
            case .sentencePiece: "SentencePiece BPE"
            case .unigram: "SentencePiece unigram"
            case .wordPiece: "WordPiece"
            }
        func name(_ id: Int32?) -> String { id.flatMap { tokenText($0) } ?? "none" }
        return "\(algorithm), \(vocabularySize) tokens, BOS \(name(bosToken))\(addsBOS ? " (added)" : ""), "
            + "EOS \(name(eosToken)), end of turn \(name(eotToken))"
    }

    /// Whether `id` ends generation (EOS, end of turn, …).
    public func isEndOfGeneration(_ id: Int32) -> Bool { endOfGenerationTokens.contains(id) }

    /// The token's text as stored in the vocabulary (byte-level BPE texts are in the GPT-2
    /// alphabet, e.g. `Ġthe`; SentencePiece texts use `▁`), or nil for an id out of range.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0 && Int(id) < tokenTexts.count else { return nil }
        return tokenTexts[Int(id)]
    }

    /// The token's attributes, or nil for an id out of range.
    public func attributes(of id: Int32) -> TokenAttributes? {
        guard id >= 0 && Int(id) < attributeTable.count else { return nil }
        return attributeTable[Int(id)]
    }

    /// Encodes `text`.
    /// - Parameters:
    ///   - addSpecial: add BOS/EOS where the vocabulary asks for them (`addsBOS`, `addsEOS`).
    ///   - parseSpecial: recognise control tokens written in the text, e.g. `<|im_start|>`, as
    ///     single ids. User-defined tokens are always recognised, as in llama.cpp.
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecial && addsBOS, let bosToken { output.append(bosToken) }
        var text = text
        text.withUTF8 { bytes in
            let fragments = splitter.split(bytes, parseSpecial: parseSpecial)
            if let byteLevel {
                var scratch = ByteLevelBPEEncoder.Scratch()
                for fragment in fragments {
                    switch fragment {
                    case .token(let id): output.append(id)
                    case .text(let range):
                        byteLevel.encode(UnsafeBufferPointer(rebasing: bytes[range]), into: &output, scratch: &scratch)
                    }
                }
            } else if let wordPiece {
                var scratch = WordPieceEncoder.Scratch()
                for fragment in fragments {
                    switch fragment {
                    case .token(let id): output.append(id)
                    case .text(let range):
                        wordPiece.encode(UnsafeBufferPointer(rebasing: bytes[range]), into: &output, scratch: &scratch)
                    }
                }
            } else if let unigram {
                var scratch = UnigramEncoder.Scratch()
                for fragment in fragments {
                    switch fragment {
                    case .token(let id): output.append(id)
                    case .text(let range):
                        unigram.encode(UnsafeBufferPointer(rebasing: bytes[range]), into: &output, scratch: &scratch)
                    }
                }
            } else if let sentencePiece {
                var scratch = SentencePieceEncoder.Scratch()
                var afterSpecial = true
                for fragment in fragments {
                    switch fragment {
                    case .token(let id):
                        output.append(id)
                        afterSpecial = true
                    case .text(let range):
                        sentencePiece.encode(
                            UnsafeBufferPointer(rebasing: bytes[range]),
                            prefixSpace: addsSpacePrefix && afterSpecial, into: &output, scratch: &scratch)
                        afterSpecial = false
                    }
                }
            }
        }
        if addSpecial && addsEOS, let eosToken { output.append(eosToken) }
        return output
    }
}
