import KilnTensor

/// One batch of inputs going through a `SentenceEncoder` in slices, so that a scheduler can
/// interleave it with other work (`SentenceEncoder.startPass`, `advance`, `finish`). Holds the
/// batch's working buffers until it is finished or dropped. Used by one caller at a time.
///
/// Each layer visits every token three times: its projections (by ranges of rows), attention (by
/// whole inputs) and its feed-forward block (by ranges of rows). `advance(tokenRows:)` runs about
/// that many of these token visits, so that a slice's time is bounded whatever the inputs' lengths
/// (an input's attention is never cut: one input longer than the budget runs whole).
public final class EncoderPass {
    enum Phase { case projections, attention, feedForward }

    /// The inputs, special tokens included, in order.
    public let inputs: [[Int32]]
    /// Layers in the model.
    public let layerCount: Int
    /// Tokens over every input: rows of the batch's state.
    public let totalTokens: Int
    /// Where each input's first row is.
    let offsets: [Int]
    let scratch: EncoderScratch
    var attentionScratchPerSlot = 0
    /// Where the pass stands: the layer, its phase, and the next row (or input, for attention).
    private(set) var layer = 0
    private(set) var phase = Phase.projections
    private(set) var position = 0
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
    public var isComplete: Bool { layer == layerCount }

    /// Runs slices of the pass through `model` until about `tokenRows` token visits are done (at
    /// least one slice) or the pass is complete.
    func advance(tokenRows budget: Int, model: BertModel, context: KernelContext) {
        var spent = 0
        repeat {
            guard !isComplete else { return }
            switch phase {
            case .projections, .feedForward:
                let rows = position..<(position + min(totalTokens - position, max(1, budget - spent)))
                if phase == .projections {
                    model.project(layer, rows: rows, of: self, context: context)
                } else {
                    model.feedForward(layer, rows: rows, of: self, context: context)
                }
                spent += rows.count
                position = rows.upperBound
            case .attention:
                var end = position, tokens = 0
                while end < inputs.count && (end == position || inputs[end].count <= budget - spent - tokens) {
                    tokens += inputs[end].count
                    end += 1
                }
                model.attend(inputs: position..<end, of: self, context: context)
                spent += tokens
                position = end
            }
            moveToNextPhaseIfDone()
        } while spent < budget
    }

    private func moveToNextPhaseIfDone() {
        switch phase {
        case .projections where position == totalTokens:
            (phase, position) = (.attention, 0)
        case .attention where position == inputs.count:
            (phase, position) = (.feedForward, 0)
        case .feedForward where position == totalTokens:
            (layer, phase, position) = (layer + 1, .projections, 0)
        default:
            break
        }
    }
}
