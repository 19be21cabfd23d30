#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scaled dot-product attention for image and text transformers, one sequence at a time.
///
/// Queries, keys and values are token-major as linear layers write them: q [queryCount, heads·headDim],
/// k and v [keyCount, heads·headDim]; head h is the column slice h·headDim ..< (h+1)·headDim.
public enum ImageAttention {
    /// Floats of scratch `attend` needs.
    public static func scratchCount(queryCount: Int, keyCount: Int, headDim: Int) -> Int {
        queryCount * keyCount + headDim * keyCount
    }

    /// output [queryCount, heads·headDim] = softmax(q kᵀ · scale + mask) v, head by head.
    /// With `causal`, query i sees keys 0...i only (CLIP's text encoder).
    public static func attend(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, queryCount: Int, keyCount: Int, heads: Int, headDim: Int,
        scale: Float, causal: Bool = false, scratch: UnsafeMutablePointer<Float>
    ) {
        let width = heads * headDim
        let scores = scratch                          // [queryCount, keyCount]
        let valuesT = scratch + queryCount * keyCount // [headDim, keyCount]
        for head in 0..<heads {
            let offset = head * headDim
            ImageGEMM.multiplyTransposed(query + offset, key + offset, into: scores,
                                         m: queryCount, n: keyCount, k: headDim, lda: width, ldb: width)
            for row in 0..<queryCount {
                softmax(scores + row * keyCount, count: keyCount, visible: causal ? row + 1 : keyCount, scale: scale)
            }
            for token in 0..<keyCount {
                for dim in 0..<headDim { valuesT[dim * keyCount + token] = value[token * width + offset + dim] }
            }
            ImageGEMM.multiplyTransposed(UnsafePointer(scores), UnsafePointer(valuesT), into: output + offset,
                                         m: queryCount, n: headDim, k: keyCount, ldc: width)
        }
    }

    /// Softmax of `row[0..<visible] · scale` in place; entries from `visible` on become 0.
    @inline(__always)
    static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int, visible: Int, scale: Float) {
        var maximum = -Float.infinity
        for index in 0..<visible { maximum = max(maximum, row[index] * scale) }
        var sum: Float = 0
        for index in 0..<visible {
            let e = expf(row[index] * scale - maximum)
            row[index] = e
            sum += e
        }
        let inverse = 1 / sum
        for index in 0..<visible { row[index] *= inverse }
        for index in visible..<count { row[index] = 0 }
    }

    /// The plain loops, in Double, that `attend` is tested against.
    public static func referenceAttend(
        query: UnsafePointer<Float>, key: UnsafePointer<Float>, value: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, queryCount: Int, keyCount: Int, heads: Int, headDim: Int,
        scale: Float, causal: Bool = false
    ) {
        let width = heads * headDim
        var weights = [Double](repeating: 0, count: keyCount)
        for head in 0..<heads {
            for i in 0..<queryCount {
                let visible = causal ? i + 1 : keyCount
                var maximum = -Double.infinity
                for j in 0..<visible {
                    var s = 0.0
                    for d in 0..<headDim {
                        s += Double(query[i * width + head * headDim + d]) * Double(key[j * width + head * headDim + d])
                    }
                    weights[j] = s * Double(scale)
                    maximum = max(maximum, weights[j])
                }
                var sum = 0.0
                for j in 0..<visible { weights[j] = doubleExp(weights[j] - maximum); sum += weights[j] }
                for d in 0..<headDim {
                    var o = 0.0
                    for j in 0..<visible { o += weights[j] / sum * Double(value[j * width + head * headDim + d]) }
                    output[i * width + head * headDim + d] = Float(o)
                }
            }
        }
    }

    @inline(__always) private static func doubleExp(_ x: Double) -> Double { exp(x) }
}
