import KilnTensor

/// Every per-step buffer of the forward pass, allocated once for the largest batch so that a
/// step allocates nothing. Shapes are `[rows × width]`, row-major.
final class ForwardScratch {
    let maximumTokenCount: Int
    let maximumLogitRows: Int
    let hidden: UnsafeMutablePointer<Float>  // [tokens × width] residual stream
    let normalized: UnsafeMutablePointer<Float>  // [tokens × width]
    let query: UnsafeMutablePointer<Float>  // [tokens × queryWidth]
    let key: UnsafeMutablePointer<Float>  // [tokens × keyValueWidth]
    let value: UnsafeMutablePointer<Float>  // [tokens × keyValueWidth]
    let attention: UnsafeMutablePointer<Float>  // [tokens × queryWidth]
    let projected: UnsafeMutablePointer<Float>  // [tokens × width]
    let gate: UnsafeMutablePointer<Float>  // [tokens × feedForward]
    let up: UnsafeMutablePointer<Float>  // [tokens × feedForward]
    let ropeCosines: UnsafeMutablePointer<Float>  // [tokens × ropeDimensions/2]
    let ropeSines: UnsafeMutablePointer<Float>  // [tokens × ropeDimensions/2]
    let localRopeCosines: UnsafeMutablePointer<Float>  // [tokens × ropeDimensions/2] sliding-window layers
    let localRopeSines: UnsafeMutablePointer<Float>  // [tokens × ropeDimensions/2]
    let logitInput: UnsafeMutablePointer<Float>  // [logitRows × width]
    let logits: UnsafeMutablePointer<Float>  // [logitRows × vocabulary]
    let logitSourceTokens: UnsafeMutablePointer<Int32>  // [logitRows] token index of each logit row
    let matmul: MatmulWorkspace
    private let allocations: [UnsafeMutablePointer<Float>]

    init(configuration c: TransformerConfiguration, maximumTokenCount: Int, maximumLogitRows: Int) {
        self.maximumTokenCount = maximumTokenCount
        self.maximumLogitRows = maximumLogitRows
        let t = maximumTokenCount
        var made: [UnsafeMutablePointer<Float>] = []
        // Left uninitialized on purpose: every row is written before it is read, and pages that
        // a step never reaches (the tail of a 512-token buffer during decoding) stay non-resident.
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            made.append(pointer)
            return pointer
        }
        hidden = make(t * c.embeddingLength)
        normalized = make(t * c.embeddingLength)
        query = make(t * c.queryWidth)
        key = make(t * c.keyValueWidth)
        value = make(t * c.keyValueWidth)
        attention = make(t * c.queryWidth)
        projected = make(t * c.embeddingLength)
        gate = make(t * c.feedForwardLength)
        up = make(t * c.feedForwardLength)
        ropeCosines = make(t * c.ropeDimensionCount / 2)
        ropeSines = make(t * c.ropeDimensionCount / 2)
        let local = c.slidingWindowLayers.contains(true) ? t * c.ropeDimensionCount / 2 : 0
        localRopeCosines = make(local)
        localRopeSines = make(local)
        logitInput = make(maximumLogitRows * c.embeddingLength)
        logits = make(maximumLogitRows * c.vocabularySize)
        allocations = made
        logitSourceTokens = .allocate(capacity: maximumLogitRows)
        let widest = max(c.embeddingLength, c.queryWidth, c.feedForwardLength)
        matmul = MatmulWorkspace(maxBatch: max(maximumTokenCount, maximumLogitRows), maxColumns: widest)
    }

    deinit {
        for pointer in allocations { pointer.deallocate() }
        logitSourceTokens.deallocate()
    }

    /// Bytes held (for the load report).
    static func byteCount(configuration c: TransformerConfiguration, maximumTokenCount t: Int, maximumLogitRows l: Int) -> Int {
        let perToken =
            3 * c.embeddingLength + 2 * c.queryWidth + 2 * c.keyValueWidth + 2 * c.feedForwardLength
            + c.ropeDimensionCount * (c.slidingWindowLayers.contains(true) ? 2 : 1)
        return 4 * (t * perToken + l * (c.embeddingLength + c.vocabularySize))
    }
}
