/// How one vector is made from an encoder's hidden states of one input (sentence-transformers'
/// `Pooling` module, llama.cpp's `--pooling`).
public enum EmbeddingPooling: String, Sendable, CaseIterable {
    /// The average of every token's state, the special tokens included (what the attention mask
    /// of an unpadded input covers).
    case mean
    /// The first token's state ([CLS] for BERT-family models).
    case cls
    /// The last token's state (decoder models, whose last token has seen the whole input).
    case lastToken = "last"

    /// Writes the pooled vector of `tokens` states [tokens, width] into `output` [width].
    public func pool(_ states: UnsafePointer<Float>, tokens: Int, width: Int, into output: UnsafeMutablePointer<Float>) {
        precondition(tokens > 0, "pooling needs at least one token")
        switch self {
        case .cls:
            output.update(from: states, count: width)
        case .lastToken:
            output.update(from: states + (tokens - 1) * width, count: width)
        case .mean:
            // Summed in Double: inputs run to thousands of tokens and float sums would drift.
            for dimension in 0..<width {
                var sum = 0.0
                for token in 0..<tokens { sum += Double(states[token * width + dimension]) }
                output[dimension] = Float(sum / Double(tokens))
            }
        }
    }

    /// Scales `vector` to unit Euclidean length, as PyTorch's `F.normalize` does (a zero vector,
    /// and any shorter than 1e-12, is divided by 1e-12 instead).
    public static func normalize(_ vector: UnsafeMutablePointer<Float>, count: Int) {
        var sum = 0.0
        for index in 0..<count { sum += Double(vector[index]) * Double(vector[index]) }
        let scale = Float(1 / max(sum.squareRoot(), 1e-12))
        for index in 0..<count { vector[index] *= scale }
    }
}
