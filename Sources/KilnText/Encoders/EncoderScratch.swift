/// The working buffers of one encoder pass, grown to the largest batch seen and then reused, so
/// that a pass allocates nothing once the server has warmed up. One caller at a time.
final class EncoderScratch {
    private(set) var capacityTokens = 0
    private(set) var attentionCapacity = 0
    /// [tokens, width] each: the running hidden state, the attention projections and output, and
    /// a residual branch.
    private(set) var hidden: UnsafeMutablePointer<Float>
    private(set) var query: UnsafeMutablePointer<Float>
    private(set) var key: UnsafeMutablePointer<Float>
    private(set) var value: UnsafeMutablePointer<Float>
    private(set) var attended: UnsafeMutablePointer<Float>
    private(set) var branch: UnsafeMutablePointer<Float>
    /// [tokens, intermediate]: the feed-forward layer's inner activations.
    private(set) var inner: UnsafeMutablePointer<Float>
    /// Attention scratch for every slot that attends at once.
    private(set) var attention: UnsafeMutablePointer<Float>

    private let width: Int
    private let intermediate: Int

    init(width: Int, intermediate: Int) {
        self.width = width
        self.intermediate = intermediate
        hidden = .allocate(capacity: 1)
        query = .allocate(capacity: 1)
        key = .allocate(capacity: 1)
        value = .allocate(capacity: 1)
        attended = .allocate(capacity: 1)
        branch = .allocate(capacity: 1)
        inner = .allocate(capacity: 1)
        attention = .allocate(capacity: 1)
    }

    deinit {
        for buffer in [hidden, query, key, value, attended, branch, inner, attention] { buffer.deallocate() }
    }

    /// Makes room for `tokens` token rows and `attentionFloats` of attention scratch.
    func reserve(tokens: Int, attentionFloats: Int) {
        if tokens > capacityTokens {
            let count = max(tokens, 2 * capacityTokens)
            for buffer in [hidden, query, key, value, attended, branch, inner] { buffer.deallocate() }
            hidden = .allocate(capacity: count * width)
            query = .allocate(capacity: count * width)
            key = .allocate(capacity: count * width)
            value = .allocate(capacity: count * width)
            attended = .allocate(capacity: count * width)
            branch = .allocate(capacity: count * width)
            inner = .allocate(capacity: count * intermediate)
            capacityTokens = count
        }
        if attentionFloats > attentionCapacity {
            attention.deallocate()
            attentionCapacity = max(attentionFloats, 2 * attentionCapacity)
            attention = .allocate(capacity: attentionCapacity)
        }
    }
}
