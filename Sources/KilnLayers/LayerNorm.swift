import KilnTensor

/// Layer normalization over the last axis (`nn.LayerNorm`).
public struct LayerNorm: Sendable {
    public let gamma: Weight
    public let beta: Weight
    public let epsilon: Float

    public init(_ store: WeightStore, _ name: String, width: Int, epsilon: Float) throws {
        gamma = try store.floats(name + ".weight", shape: [width])
        beta = try store.floats(name + ".bias", shape: [width])
        self.epsilon = epsilon
    }

    /// x [rows, width] → normalized rows.
    public func callAsFunction(_ x: [Float], rows: Int, workspace: Workspace) -> [Float] {
        var y = x
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                apply(input.baseAddress!, rows: rows, into: output.baseAddress!, context: workspace.kernels)
            }
        }
        return y
    }

    /// x [rows, width] → out, into memory the caller owns; `out` may be `x` (each row is read
    /// before it is written).
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, context: KernelContext) {
        Normalization.layerNorm(
            x, into: out, rows: rows, width: gamma.count, epsilon: epsilon, gamma: gamma.pointer, beta: beta.pointer,
            context: context)
    }
}
