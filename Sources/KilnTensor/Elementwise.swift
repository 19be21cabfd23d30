import Foundation

/// Element-by-element vector operations. All pointers address `[count]` floats; an output may be
/// the same memory as an input.
public enum Elementwise {
    /// Residual connection: `output[i] = a[i] + b[i]`.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int,
                           into output: UnsafeMutablePointer<Float>) {
        for i in 0..<count { output[i] = a[i] + b[i] }
    }

    /// SiLU in place: `x[i] = x[i] / (1 + exp(-x[i]))`.
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] = x[i] / (1 + expf(-x[i])) }
    }

    /// SwiGLU feed-forward gate: `output[i] = silu(gate[i]) · up[i]`.
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
                              into output: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let g = gate[i]
            output[i] = g / (1 + expf(-g)) * up[i]
        }
    }

    /// `x[i] *= factor`.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        for i in 0..<count { x[i] *= factor }
    }

    /// Softmax in place over `[count]` floats: subtracts the maximum before exponentiating, so any
    /// finite input is safe; `-infinity` entries (masked) become 0. `count` must be at least 1.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count > 0, "softmax of an empty vector")
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, x[i]) }
        var sum: Float = 0
        for i in 0..<count {
            let e = expf(x[i] - maximum)
            x[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<count { x[i] *= inverse }
    }

    /// Converts floats to IEEE half floats (round to nearest even), e.g. to store keys and values
    /// in an f16 KV cache. `destination` is `[count]` `UInt16` bit patterns.
    public static func convertToHalf(_ source: UnsafePointer<Float>, count: Int,
                                     into destination: UnsafeMutablePointer<UInt16>) {
        for i in 0..<count { destination[i] = Float16(source[i]).bitPattern }
    }

    /// Converts IEEE half floats (bit patterns) to floats, exactly.
    public static func convertFromHalf(_ source: UnsafePointer<UInt16>, count: Int,
                                       into destination: UnsafeMutablePointer<Float>) {
        for i in 0..<count { destination[i] = Float(Float16(bitPattern: source[i])) }
    }
}
