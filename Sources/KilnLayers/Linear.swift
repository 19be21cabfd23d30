import KilnTensor

/// y = x Wᵀ + b over rows of x (PyTorch `nn.Linear`; weight [out, in]).
public struct Linear: Sendable {
    public let weight: Weight
    public let bias: Weight?
    /// The weight packed for the GEMM kernel once (`packed(context:)`), if it was.
    public private(set) var packedWeight: PackedWeight?
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(_ store: WeightStore, _ name: String, in inFeatures: Int? = nil, out outFeatures: Int? = nil, bias: Bool = true) throws {
        weight = try store.weight(name + ".weight")
        guard weight.shape.count == 2 else { throw LayerError.invalidWeights("\(name).weight must be 2-D, is \(weight.shape)") }
        if let inFeatures, weight.shape[1] != inFeatures {
            throw LayerError.invalidWeights("\(name).weight takes \(weight.shape[1]) inputs, expected \(inFeatures)")
        }
        if let outFeatures, weight.shape[0] != outFeatures {
            throw LayerError.invalidWeights("\(name).weight gives \(weight.shape[0]) outputs, expected \(outFeatures)")
        }
        self.bias = bias || store.contains(name + ".bias") ? try store.floats(name + ".bias", shape: [weight.shape[0]]) : nil
    }

    /// A layer over weights already in memory (e.g. matrices concatenated at load).
    public init(weight: Weight, bias: Weight?) {
        precondition(weight.shape.count == 2, "a linear layer's weight is [out, in]")
        precondition(bias.map { $0.count == weight.shape[0] } ?? true, "the bias must have one value per output")
        self.weight = weight
        self.bias = bias
    }

    /// The same layer with its weight packed once for the GEMM kernel: products skip packing, for
    /// a float copy of the weight in memory (see `PackedWeight`). Results are bitwise the same.
    public func packed(context: KernelContext) -> Linear {
        var copy = self
        copy.packedWeight = PackedWeight(weight.matrix.transposed, columns: outFeatures, depth: inFeatures, context: context)
        return copy
    }

    /// x [rows, in] → [rows, out].
    public func callAsFunction(_ x: [Float], rows: Int, workspace: Workspace) -> [Float] {
        x.withUnsafeBufferPointer { input in
            .filled(rows * outFeatures) { out in apply(input.baseAddress!, rows: rows, into: out, context: workspace.kernels) }
        }
    }

    /// x [rows, in] → out [rows, out], into memory the caller owns (no allocation).
    public func apply(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>, context: KernelContext) {
        if let bias {
            for row in 0..<rows { (out + row * outFeatures).update(from: bias.pointer, count: outFeatures) }
        }
        if let packedWeight {
            return GEMM.multiply(
                MatrixOperand(x, rowStride: inFeatures), packed: packedWeight, into: out, m: rows, accumulate: bias != nil,
                context: context)
        }
        // y = x · Wᵀ: the weight [out, in] read in place (in its stored type) as its transpose.
        GEMM.multiply(
            MatrixOperand(x, rowStride: inFeatures), weight: weight.matrix.transposed,
            into: out, m: rows, n: outFeatures, k: inFeatures, accumulate: bias != nil, context: context)
    }
}
