import Foundation

/// Normalization layers.
public enum Normalization {
    /// RMSNorm, row by row: `output[r][i] = input[r][i] / sqrt(mean_j(input[r][j]²) + epsilon) · weight[i]`.
    ///
    /// The mean of squares is accumulated in `Double` (as llama.cpp's `ggml_rms_norm` does), then the
    /// scale is rounded to `Float`.
    ///
    /// - Parameters:
    ///   - input: `[rows × count]` floats (row stride `count`).
    ///   - weight: `[count]` floats (the norm's gain), or nil for none.
    ///   - output: `[rows × count]` floats; may be the same memory as `input`.
    public static func rms(_ input: UnsafePointer<Float>, weight: UnsafePointer<Float>?, count: Int,
                           rows: Int = 1, epsilon: Float, output: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let x = input + r * count, y = output + r * count
            var sum: Double = 0
            for i in 0..<count { sum += Double(x[i]) * Double(x[i]) }
            let scale = Float(1.0 / (sum / Double(count) + Double(epsilon)).squareRoot())
            if let weight {
                for i in 0..<count { y[i] = x[i] * scale * weight[i] }
            } else {
                for i in 0..<count { y[i] = x[i] * scale }
            }
        }
    }
}
