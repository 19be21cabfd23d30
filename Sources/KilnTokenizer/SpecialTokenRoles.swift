/// Which ids play which role (BOS, EOS, end of turn, …) and which end generation.
///
/// Ids come from metadata when present and in range, else from the model's defaults, else from
/// llama.cpp's table of well-known token texts (end-of-turn and fill-in-the-middle tokens are
/// found by text). Along the way token attributes are adjusted exactly as llama.cpp adjusts them
/// (the tables follow the llama.cpp vendored in llama-cpp-python 0.3.36, which made the reference
/// data), because those adjustments decide which tokens are recognised as specials in text: an
/// end-of-generation text such as `</s>` becomes a control token even where the file says normal.
struct SpecialTokenRoles: Sendable {
    var bos: Int32?
    var eos: Int32?
    var eot: Int32?
    var eom: Int32?
    var unknown: Int32?
    var padding: Int32?
    var separator: Int32?
    var endOfGeneration: Set<Int32> = []

    // Texts llama.cpp recognises, in the order in which Kiln prefers them when several exist
    // (llama.cpp takes whichever its hash map yields first).
    static let endOfTurnTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
        "<end_of_utterance>",
    ]
    static let endOfMessageTexts = ["<|eom_id|>"]
    static let fimPrefixTexts = [
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
        "▁<PRE>", "<|code_prefix|>", "<|prefix|>",
    ]
    static let fimSuffixTexts = [
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
        "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
    ]
    static let fimMiddleTexts = [
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
        "▁<MID>", "<|code_middle|>", "<|middle|>",
    ]
    static let fimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]
    static let fimRepoTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]
    static let fimSeparatorTexts = ["<|file_sep|>"]
    static let endOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]
    /// gpt-oss renders these always, so llama.cpp makes them user-defined.
    static let alwaysRenderedTexts: Set<String> = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]

    /// Resolves the roles and adjusts `attributes` in place.
    /// `idForText` maps token text to id, the last id winning for duplicated texts.
    init(
        vocabulary: TokenizerVocabulary, isSentencePiece: Bool, hasNoDefaultBOS: Bool = false,
        idForText: [String: Int32], attributes: inout [TokenAttributes]
    ) {
        let count = vocabulary.tokens.count
        func inRange(_ id: Int?) -> Int32? {
            guard let id, id >= 0, id < count else { return nil }
            return Int32(id)
        }
        func chosen(_ metadata: Int?, default fallback: Int?) -> Int32? {
            inRange(metadata) ?? inRange(fallback)
        }
        bos = chosen(vocabulary.bosTokenID, default: isSentencePiece ? 1 : hasNoDefaultBOS ? nil : 11)
        eos = chosen(vocabulary.eosTokenID, default: isSentencePiece ? 2 : 11)
        unknown = chosen(vocabulary.unknownTokenID, default: isSentencePiece ? 0 : nil)
        padding = inRange(vocabulary.paddingTokenID)
        separator = inRange(vocabulary.separatorTokenID)

        // Finds the first text present, making it a control token as llama.cpp does.
        func byText(_ texts: [String]) -> Int32? {
            for text in texts {
                if let id = idForText[text] {
                    attributes[Int(id)].insert(.control)
                    return id
                }
            }
            return nil
        }
        eot = inRange(vocabulary.eotTokenID) ?? byText(Self.endOfTurnTexts)
        eom = inRange(vocabulary.eomTokenID) ?? byText(Self.endOfMessageTexts)
        _ = byText(Self.fimPrefixTexts)
        _ = byText(Self.fimSuffixTexts)
        _ = byText(Self.fimMiddleTexts)
        let fimPad = inRange(vocabulary.fimPadTokenID) ?? byText(Self.fimPadTexts)
        let fimRepo = inRange(vocabulary.fimRepoTokenID) ?? byText(Self.fimRepoTexts)
        let fimSeparator = inRange(vocabulary.fimSeparatorTokenID) ?? byText(Self.fimSeparatorTexts)

        // Control tokens whose text says "unused" are unused.
        for (text, id) in idForText where attributes[Int(id)].contains(.control) && text.contains("unused") {
            attributes[Int(id)].insert(.unused)
        }

        var generationEnders = Set([fimPad, fimRepo, fimSeparator].compactMap { $0 })
        for (text, id) in idForText {
            if Self.endOfGenerationTexts.contains(text) {
                generationEnders.insert(id)
                attributes[Int(id)].insert(.control)
            }
            if Self.alwaysRenderedTexts.contains(text) { attributes[Int(id)] = .userDefined }
        }
        for id in [eos, eot, eom].compactMap({ $0 }) { generationEnders.insert(id) }

        // gpt-oss and Solar Open end turns with <|end|> but keep generating: it is not an end there.
        let enderTexts = Set(generationEnders.map { vocabulary.tokens[Int($0)] })
        let hasReturn = enderTexts.contains("<|return|>")
        let hasCall = enderTexts.contains("<|call|>") || enderTexts.contains("<|calls|>")
        let hasFlush = enderTexts.contains("<|flush|>")
        if (hasReturn && hasCall) || (hasCall && hasFlush), let end = idForText["<|end|>"],
            generationEnders.contains(end)
        {
            generationEnders.remove(end)
            attributes[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo use </s> as an ordinary token.
        let markers = Set(generationEnders.map { vocabulary.tokens[Int($0)] })
        if markers.contains("<|tool_response>") || markers.contains("<|plamo:eos|>"),
            let end = generationEnders.first(where: { vocabulary.tokens[Int($0)] == "</s>" })
        {
            generationEnders.remove(end)
            attributes[Int(end)] = .normal
        }
        endOfGeneration = generationEnders
    }

    /// llama.cpp's per-model attribute rules: Phi-3 strips whitespace after its special tokens.
    static func applyModelRules(modelName: String?, idForText: [String: Int32], attributes: inout [TokenAttributes]) {
        let name = (modelName ?? "").lowercased()
        guard name.contains("phi-3") || name.contains("phi3") else { return }
        for index in attributes.indices where attributes[index].isSpecial {
            attributes[index].insert(.stripsRight)
        }
        if let id = idForText["</s>"] { attributes[Int(id)].insert(.stripsRight) }
        for text in ["<unk>", "<s>", "<|endoftext|>"] {
            if let id = idForText[text] { attributes[Int(id)].remove(.stripsRight) }
        }
    }
}
