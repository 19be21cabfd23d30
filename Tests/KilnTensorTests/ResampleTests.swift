import Foundation
import KilnTensor
import Testing

/// Nearest-neighbour resampling as PyTorch does it.
@Suite struct ResampleTests {
    @Test func upsampleRepeatsEachPixelTwice() {
        let input: [Float] = [1, 2, 3, 4, 5, 6]  // 1 channel, 2×3
        var output = [Float](repeating: 0, count: 24)
        Resample.upsampleNearest2x(input, into: &output, channels: 1, height: 2, width: 3)
        #expect(output == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6])
    }

    /// PyTorch's nearest resize: 3 → 5 picks source ⌊i·3/5⌋ = 0, 0, 1, 1, 2.
    @Test func nearestResizeFollowsPyTorch() {
        let input: [Float] = [1, 2, 3]
        var output = [Float](repeating: 0, count: 5)
        Resample.resizeNearest(input, into: &output, channels: 1, height: 1, width: 3, outHeight: 1, outWidth: 5)
        #expect(output == [1, 1, 2, 2, 3])
    }
}
