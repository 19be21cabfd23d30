/// One product of a multi-matrix `Matmul.multiply`: a weight matrix and where its output rows go.
///
/// For batch row `b` the product `weight · input[b]` (`[weight.rows]` floats) is written at
/// `output + b * outputStride`.
public struct MatmulTarget: @unchecked Sendable {
    /// The matrix; its `columns` must equal the shared input's width.
    public var weight: WeightMatrix
    /// First output float; `[batch × outputStride]` floats are addressable, of which the first
    /// `weight.rows` of each row are written.
    public var output: UnsafeMutablePointer<Float>
    /// Floats between consecutive batch rows of the output, at least `weight.rows`.
    public var outputStride: Int

    /// - Parameter outputStride: defaults to `weight.rows` (densely packed `[batch × rows]` output).
    public init(weight: WeightMatrix, output: UnsafeMutablePointer<Float>, outputStride: Int? = nil) {
        self.weight = weight
        self.output = output
        self.outputStride = outputStride ?? weight.rows
    }
}
