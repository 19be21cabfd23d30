/// One batch of inputs going through a `SentenceEncoder`, a few layers at a time, so that a
/// scheduler can interleave it with other work (`SentenceEncoder.startPass`, `advance`, `finish`).
/// Holds the batch's working buffers until it is finished or dropped. Used by one caller at a time.
public final class EncoderPass {
    /// The inputs, special tokens included, in order.
    public let inputs: [[Int32]]
    /// Layers in the model: the steps a pass takes.
    public let layerCount: Int
    /// Layers run so far.
    public internal(set) var layersDone = 0
    /// Tokens over every input: rows of the batch's state.
    let totalTokens: Int
    /// Where each input's first row is.
    let offsets: [Int]
    let scratch: EncoderScratch
    var attentionScratchPerSlot = 0
    /// Gives the buffers back to the encoder when the pass ends.
    private let recycle: (EncoderScratch) -> Void

    init(inputs: [[Int32]], layerCount: Int, scratch: EncoderScratch, recycle: @escaping (EncoderScratch) -> Void) {
        self.inputs = inputs
        self.layerCount = layerCount
        self.scratch = scratch
        self.recycle = recycle
        var offsets = [Int](repeating: 0, count: inputs.count)
        var total = 0
        for (index, input) in inputs.enumerated() {
            offsets[index] = total
            total += input.count
        }
        self.offsets = offsets
        totalTokens = total
    }

    deinit { recycle(scratch) }

    /// Whether every layer has run (`SentenceEncoder.finish` may be called).
    public var isComplete: Bool { layersDone == layerCount }
}
