import KilnLayers
import KilnTensor

/// One pre-norm transformer layer of the hybrid's autoregressive part (`ARLayer` of
/// `Scripts/madformer/madformer_model.py`):
///
///     h += Attention(LayerNorm₁(h))      (biased q, k, v, out; keys and values also from the cache)
///     h += MLP(LayerNorm₂(h))            (linear, GELU-tanh, linear)
///
/// A call runs only the new tokens: their keys and values are appended to the stream's cache, and
/// they attend to everything cached before them and to each other (bidirectional within the call),
/// except a leading `prefix` of them (the caption, on the first call), which sees only itself.
struct ARLayer: Sendable {
    let norm1: LayerNorm, norm2: LayerNorm
    let attention: AttentionLayer
    let feedForwardIn: Linear, feedForwardOut: Linear
    let width: Int

    init(_ store: WeightStore, _ name: String, width: Int, heads: Int, epsilon: Float) throws {
        norm1 = try LayerNorm(store, name + ".norm1", width: width, epsilon: epsilon)
        norm2 = try LayerNorm(store, name + ".norm2", width: width, epsilon: epsilon)
        attention = try AttentionLayer(diffusersBiased: store, name + ".attn", heads: heads)
        guard attention.query.inFeatures == width, attention.key.inFeatures == width, attention.value.inFeatures == width,
            attention.query.outFeatures == width, attention.output.inFeatures == width, attention.output.outFeatures == width
        else {
            throw ImageError.invalidWeights("\(name).attn: projections do not match the width \(width)")
        }
        feedForwardIn = try Linear(store, name + ".ff.net.0.proj", in: width)
        feedForwardOut = try Linear(store, name + ".ff.net.2", in: feedForwardIn.outFeatures, out: width)
        self.width = width
    }

    /// hidden [tokens, D] in place. `keys` and `values` are this layer's cache [capacity, D], of which
    /// the first `cached` rows are filled; the new tokens' rows are written after them (the caller
    /// counts them as cached once every layer has run).
    func callAsFunction(
        _ hidden: UnsafeMutablePointer<Float>, tokens: Int, prefix: Int, keys: UnsafeMutablePointer<Float>,
        values: UnsafeMutablePointer<Float>, cached: Int, scratch: ARScratch, context: KernelContext
    ) {
        let normalized = scratch.normalized, queries = scratch.queries, attended = scratch.attended
        norm1.apply(hidden, rows: tokens, into: normalized, context: context)
        attention.query.apply(normalized, rows: tokens, into: queries, context: context)
        attention.key.apply(normalized, rows: tokens, into: keys + cached * width, context: context)
        attention.value.apply(normalized, rows: tokens, into: values + cached * width, context: context)
        // Queries first..<first + count attend to the first `visible` keys.
        func attend(first: Int, count: Int, visible: Int) {
            guard count > 0 else { return }
            SequenceAttention.attend(
                query: queries + first * width, key: keys, value: values, output: attended + first * width,
                queryCount: count, keyCount: visible, heads: attention.heads, headDim: attention.headDim,
                scale: 1 / Float(attention.headDim).squareRoot(), scratch: scratch.attention, context: context)
        }
        // The prefix sees the cache and itself; the rest sees the cache and every new token.
        attend(first: 0, count: prefix, visible: cached + prefix)
        attend(first: prefix, count: tokens - prefix, visible: cached + tokens)
        attention.output.apply(attended, rows: tokens, into: queries, context: context)
        for index in 0..<(tokens * width) { hidden[index] += queries[index] }

        norm2.apply(hidden, rows: tokens, into: normalized, context: context)
        feedForwardIn.apply(normalized, rows: tokens, into: scratch.inner, context: context)
        Activation.geluTanhInPlace(scratch.inner, count: tokens * feedForwardIn.outFeatures)
        feedForwardOut.apply(scratch.inner, rows: tokens, into: queries, context: context)
        for index in 0..<(tokens * width) { hidden[index] += queries[index] }
    }
}

/// The keys and values the autoregressive layers have computed for one stream of one generation:
/// per layer, [capacity, D] keys and as many values (the caption, then slot after slot).
/// Allocated once with the generation; never grows.
final class ARKeyValueCache {
    /// [layers, capacity, D].
    let keys: UnsafeMutablePointer<Float>
    /// [layers, capacity, D].
    let values: UnsafeMutablePointer<Float>
    let capacity: Int
    let width: Int
    let layers: Int
    /// Rows filled in every layer.
    var count = 0

    init(layers: Int, capacity: Int, width: Int) {
        self.layers = layers
        self.capacity = capacity
        self.width = width
        keys = .allocate(capacity: layers * capacity * width)
        values = .allocate(capacity: layers * capacity * width)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys + layer * capacity * width }
    func values(layer: Int) -> UnsafeMutablePointer<Float> { values + layer * capacity * width }
}

/// Working buffers of one autoregressive pass of up to `maxTokens` tokens (reused by every layer
/// and every call of the generation that owns them).
final class ARScratch {
    /// [maxTokens, D] each.
    let normalized: UnsafeMutablePointer<Float>, queries: UnsafeMutablePointer<Float>, attended: UnsafeMutablePointer<Float>
    /// [maxTokens, inner width].
    let inner: UnsafeMutablePointer<Float>
    /// `SequenceAttention.attend`'s scratch for up to `maxTokens` queries over `capacity` keys.
    let attention: UnsafeMutablePointer<Float>

    init(maxTokens: Int, width: Int, innerWidth: Int, attentionCount: Int) {
        normalized = .allocate(capacity: maxTokens * width)
        queries = .allocate(capacity: maxTokens * width)
        attended = .allocate(capacity: maxTokens * width)
        inner = .allocate(capacity: maxTokens * innerWidth)
        attention = .allocate(capacity: attentionCount)
    }

    deinit {
        for buffer in [normalized, queries, attended, inner, attention] { buffer.deallocate() }
    }
}
