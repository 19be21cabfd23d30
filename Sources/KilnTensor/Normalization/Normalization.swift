import CKilnKernels

/// Normalization layers.
public enum Normalization {
    /// RMSNorm, row by row: `output[r][i] = input[r][i] / sqrt(mean_j(input[r][j]²) + epsilon) · weight[i]`.
    ///
    /// The mean of squares is accumulated in `Double` (as llama.cpp's `ggml_rms_norm` does), then the
    /// scale is rounded to `Float`. AVX2 body in CKilnKernels (`kiln_rms_norm`).
    ///
    /// - Parameters:
    ///   - input: `[rows × count]` floats (row stride `count`).
    ///   - weight: `[count]` floats (the norm's gain), or nil for none.
    ///   - output: `[rows × count]` floats; may be the same memory as `input`.
    public static func rms(
        _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>?, count: Int,
        rows: Int = 1, epsilon: Float, output: UnsafeMutablePointer<Float>
    ) {
        kiln_rms_norm(input, weight, Int32(count), Int32(rows), epsilon, output)
    }
}
