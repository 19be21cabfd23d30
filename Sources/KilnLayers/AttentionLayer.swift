import KilnTensor

/// Multi-head attention as diffusers' `Attention` and CLIP's self-attention write it: query, key,
/// value and output projections around scaled dot-product attention.
public struct AttentionLayer: Sendable {
    public let query: Linear
    public let key: Linear
    public let value: Linear
    public let output: Linear
    public let heads: Int
    public let headDim: Int
    public let causal: Bool

    /// diffusers naming: `to_q`, `to_k`, `to_v`, `to_out.0`.
    public init(diffusers store: WeightStore, _ name: String, heads: Int, contextWidth: Int? = nil) throws {
        try self.init(
            query: Linear(store, name + ".to_q", bias: false),
            key: Linear(store, name + ".to_k", in: contextWidth, bias: false),
            value: Linear(store, name + ".to_v", in: contextWidth, bias: false),
            output: Linear(store, name + ".to_out.0"), heads: heads, causal: false, name: name)
    }

    /// diffusers naming with biased projections (the VAE's single-head attention).
    public init(diffusersBiased store: WeightStore, _ name: String, heads: Int) throws {
        try self.init(
            query: Linear(store, name + ".to_q"), key: Linear(store, name + ".to_k"),
            value: Linear(store, name + ".to_v"), output: Linear(store, name + ".to_out.0"),
            heads: heads, causal: false, name: name)
    }

    /// CLIP naming: `q_proj`, `k_proj`, `v_proj`, `out_proj`, with a causal mask.
    public init(clip store: WeightStore, _ name: String, heads: Int) throws {
        try self.init(
            query: Linear(store, name + ".q_proj"), key: Linear(store, name + ".k_proj"),
            value: Linear(store, name + ".v_proj"), output: Linear(store, name + ".out_proj"),
            heads: heads, causal: true, name: name)
    }

    private init(query: Linear, key: Linear, value: Linear, output: Linear, heads: Int, causal: Bool, name: String) throws {
        let width = query.outFeatures
        guard heads > 0, width % heads == 0, key.outFeatures == width, value.outFeatures == width else {
            throw LayerError.invalidWeights("\(name): \(width) features cannot split into \(heads) heads")
        }
        self.query = query
        self.key = key
        self.value = value
        self.output = output
        self.heads = heads
        self.headDim = width / heads
        self.causal = causal
    }

    /// x [tokens, width] attends to context [contextTokens, contextWidth] (itself when nil).
    public func callAsFunction(_ x: [Float], tokens: Int, context: [Float]? = nil, contextTokens: Int? = nil, workspace: Workspace) -> [Float] {
        let q = query(x, rows: tokens, workspace: workspace)
        let source = context ?? x
        let sourceTokens = contextTokens ?? tokens
        let k = key(source, rows: sourceTokens, workspace: workspace)
        let v = value(source, rows: sourceTokens, workspace: workspace)
        let buffer = workspace.buffer(
            SequenceAttention.scratchCount(
                queryCount: tokens, keyCount: sourceTokens, heads: heads,
                headDim: headDim, context: workspace.kernels))
        let attended = q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    [Float].filled(tokens * heads * headDim) { op in
                        SequenceAttention.attend(
                            query: qp.baseAddress!, key: kp.baseAddress!, value: vp.baseAddress!,
                            output: op, queryCount: tokens, keyCount: sourceTokens,
                            heads: heads, headDim: headDim,
                            scale: 1 / Float(headDim).squareRoot(), causal: causal, scratch: buffer,
                            context: workspace.kernels)
                    }
                }
            }
        }
        return output(attended, rows: tokens, workspace: workspace)
    }
}
