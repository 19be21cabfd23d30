/// Resampling of channel-major feature maps.
public enum Resample {
    /// Nearest-neighbour ×2: input [channels, height, width] → output [channels, 2·height, 2·width].
    public static func upsampleNearest2x(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        channels: Int, height: Int, width: Int
    ) {
        let outWidth = 2 * width
        for channel in 0..<channels {
            let plane = input + channel * height * width
            let target = output + channel * 4 * height * width
            for y in 0..<height {
                let line = target + 2 * y * outWidth
                for x in 0..<width {
                    let value = plane[y * width + x]
                    line[2 * x] = value
                    line[2 * x + 1] = value
                }
                (line + outWidth).update(from: line, count: outWidth)
            }
        }
    }

    /// Nearest-neighbour resize to an arbitrary size, PyTorch's `interpolate(mode="nearest")`:
    /// output pixel (y, x) takes input pixel (⌊y·height/outHeight⌋, ⌊x·width/outWidth⌋).
    public static func resizeNearest(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int
    ) {
        let scaleY = Float(height) / Float(outHeight), scaleX = Float(width) / Float(outWidth)
        for channel in 0..<channels {
            let plane = input + channel * height * width
            let target = output + channel * outHeight * outWidth
            for y in 0..<outHeight {
                let sourceY = min(Int(Float(y) * scaleY), height - 1)
                for x in 0..<outWidth {
                    target[y * outWidth + x] = plane[sourceY * width + min(Int(Float(x) * scaleX), width - 1)]
                }
            }
        }
    }
}
