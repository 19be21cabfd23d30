/// Inputs of encoder models (embeddings): a text's tokens between the special tokens the model
/// was trained with, cut to the model's length when asked.
extension Tokenizer {
    /// The tokens `encode(_:addSpecial: true)` puts before a text: BOS, which is [CLS] for BERT.
    public var encoderPrefix: [Int32] { addsBOS ? bosToken.map { [$0] } ?? [] : [] }
    /// The tokens `encode(_:addSpecial: true)` puts after a text: EOS, which is [SEP] for BERT.
    public var encoderSuffix: [Int32] { addsEOS ? eosToken.map { [$0] } ?? [] : [] }

    /// `tokens` (a text's, without special tokens) between `encoderPrefix` and `encoderSuffix`.
    /// When that is longer than `limit` tokens: with `truncate`, the text's tokens are cut from
    /// the end to fit (the special tokens stay, as Hugging Face's truncation keeps them); without
    /// it, nil.
    public func encoderInput(_ tokens: [Int32], limit: Int, truncate: Bool) -> [Int32]? {
        let prefix = encoderPrefix, suffix = encoderSuffix
        let room = max(0, limit - prefix.count - suffix.count)
        guard tokens.count <= room || truncate else { return nil }
        return prefix + tokens.prefix(room) + suffix
    }
}
