import KilnLayers
import KilnTensor

/// One image's activations in channel-major layout: values[(channel · height + y) · width + x].
public struct FeatureMap: Sendable {
    public var values: [Float]
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(values: [Float], channels: Int, height: Int, width: Int) {
        precondition(values.count == channels * height * width, "feature map size mismatch")
        self.values = values
        self.channels = channels
        self.height = height
        self.width = width
    }

    public init(zeros channels: Int, height: Int, width: Int) {
        self.init(values: [Float](repeating: 0, count: channels * height * width), channels: channels, height: height, width: width)
    }

    public var pixels: Int { height * width }

    /// Channels of `self` followed by those of `other` (PyTorch's `cat(dim=1)`); sizes must match.
    public func concatenated(with other: FeatureMap) -> FeatureMap {
        precondition(height == other.height && width == other.width, "concatenating maps of different sizes")
        return FeatureMap(values: values + other.values, channels: channels + other.channels, height: height, width: width)
    }

    /// Element-wise sum; shapes must match.
    public static func + (lhs: FeatureMap, rhs: FeatureMap) -> FeatureMap {
        precondition(lhs.values.count == rhs.values.count, "adding maps of different sizes")
        var result = lhs
        for index in result.values.indices { result.values[index] += rhs.values[index] }
        return result
    }

    /// A map whose every value `fill` writes (a kernel's output), without zeroing it first.
    init(channels: Int, height: Int, width: Int, filledBy fill: (UnsafeMutablePointer<Float>) -> Void) {
        self.init(values: .filled(channels * height * width, by: fill), channels: channels, height: height, width: width)
    }

    /// Nearest-neighbour ×2 upsampling (PyTorch's `interpolate(scale_factor=2, mode="nearest")`).
    public func upsampledNearest2x() -> FeatureMap {
        values.withUnsafeBufferPointer { input in
            FeatureMap(channels: channels, height: height * 2, width: width * 2) { out in
                Resample.upsampleNearest2x(input.baseAddress!, into: out, channels: channels, height: height, width: width)
            }
        }
    }

    /// Token-major copy [pixels, channels], the layout of a transformer's sequence.
    public func tokens() -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for channel in 0..<channels {
            for pixel in 0..<pixels { result[pixel * channels + channel] = values[channel * pixels + pixel] }
        }
        return result
    }

    /// The map back from token-major [pixels, channels] values.
    public static func fromTokens(_ tokens: [Float], channels: Int, height: Int, width: Int) -> FeatureMap {
        let pixels = height * width
        var values = [Float](repeating: 0, count: tokens.count)
        for pixel in 0..<pixels {
            for channel in 0..<channels { values[channel * pixels + pixel] = tokens[pixel * channels + channel] }
        }
        return FeatureMap(values: values, channels: channels, height: height, width: width)
    }
}
