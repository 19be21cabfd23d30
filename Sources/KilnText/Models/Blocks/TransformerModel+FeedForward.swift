import KilnTensor

/// The gated feed-forward block: `down · (act(gate · n) ⊙ up · n)` of the normalized rows
/// (`scratch.normalized`), with SiLU (SwiGLU) or the tanh GELU (GeGLU) as the architecture says.
extension TransformerModel {
    /// Writes the block's output ([rows × width]) to `output`.
    func feedForward(_ layer: Int, weights: LayerWeights, rows: Int, output: UnsafeMutablePointer<Float>) {
        let s = scratch
        multiply(feedForwardInputTargets[layer], input: s.normalized, rows: rows)
        gateRows(count: rows)
        multiply(weights.down, input: s.gate, rows: rows, output: output)
    }

    /// gate[t] = act(gate[t]) ⊙ up[t] for `count` rows of the feed-forward width. GeGLU uses
    /// ggml's tabulated GELU on the 8-bit path (llama.cpp's rounding), the exact tanh form on the
    /// float path.
    private func gateRows(count: Int) {
        let width = configuration.feedForwardLength
        let gate = scratch.gate, up = scratch.up
        let activation = configuration.feedForwardActivation
        let tabulated = kernelPath == .automatic
        forEachRow(count) { rows in
            let offset = rows.lowerBound * width, elements = rows.count * width
            switch activation {
            case .silu:
                Elementwise.swiglu(gate: gate + offset, up: up + offset, count: elements, into: gate + offset)
            case .geluTanh where tabulated:
                TabulatedGELU.geglu(gate: gate + offset, up: up + offset, count: elements, into: gate + offset)
            case .geluTanh:
                for index in offset..<offset + elements { gate[index] = Activation.geluTanh(gate[index]) * up[index] }
            }
        }
    }
}
