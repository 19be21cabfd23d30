/// Two-dimensional convolution over one image in channel-major layout (PyTorch's NCHW for batch 1).
///
/// The optimized path gathers the receptive field of every output pixel into a row of a patch
/// matrix (im2col, [outHeight·outWidth, inChannels·kernel·kernel]) and multiplies it with the weight
/// matrix ([outChannels, inChannels·kernel·kernel], PyTorch's layout as stored) in `ImageGEMM`'s NT
/// form. Dilation and groups are not supported: the diffusion models here use neither.
public struct ImageConv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernel) / stride + 1, (width + 2 * padding - kernel) / stride + 1)
    }

    /// Floats of scratch `apply` needs for an input of this size.
    public func scratchCount(height: Int, width: Int) -> Int {
        let out = outputSize(height: height, width: width)
        return out.height * out.width * (inChannels * kernel * kernel + outChannels)
    }

    /// output [outChannels, outH, outW] = conv(input [inChannels, height, width]) + bias.
    /// `weight` is [outChannels, inChannels, kernel, kernel]; `scratch` holds `scratchCount` floats.
    public func apply(
        input: UnsafePointer<Float>, height: Int, width: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let out = outputSize(height: height, width: width)
        let pixels = out.height * out.width
        let patch = inChannels * kernel * kernel
        // im2col: row p of the patch matrix holds the (channel, ky, kx) window of output pixel p.
        let kernel = self.kernel, stride = self.stride, padding = self.padding, inChannels = self.inChannels
        ImageParallel.run(min(ImageParallel.width, max(1, pixels / 64))) { part in
            let parts = min(ImageParallel.width, max(1, pixels / 64))
            let chunk = (out.height + parts - 1) / parts
            for oy in (part * chunk)..<min(out.height, (part + 1) * chunk) {
                for ox in 0..<out.width {
                    var row = scratch + (oy * out.width + ox) * patch
                    for channel in 0..<inChannels {
                        let plane = input + channel * height * width
                        for ky in 0..<kernel {
                            let y = oy * stride + ky - padding
                            if y < 0 || y >= height {
                                for _ in 0..<kernel { row.pointee = 0; row += 1 }
                                continue
                            }
                            let line = plane + y * width
                            for kx in 0..<kernel {
                                let x = ox * stride + kx - padding
                                row.pointee = (x >= 0 && x < width) ? line[x] : 0
                                row += 1
                            }
                        }
                    }
                }
            }
        }
        // Pixel-major product [pixels, outChannels] (the weights, the smaller operand, stay in cache
        // while the patches stream), then transposed into channel-major output with the bias.
        let pixelMajor = scratch + pixels * patch
        ImageGEMM.multiplyTransposed(UnsafePointer(scratch), weight, into: pixelMajor, m: pixels, n: outChannels, k: patch)
        let outChannels = self.outChannels
        for channel in 0..<outChannels {
            let shift = bias?[channel] ?? 0
            let plane = output + channel * pixels
            for pixel in 0..<pixels { plane[pixel] = pixelMajor[pixel * outChannels + channel] + shift }
        }
    }

    /// The direct six-deep loop, in Double, that `apply` is tested against.
    public func referenceApply(
        input: UnsafePointer<Float>, height: Int, width: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
    ) {
        let out = outputSize(height: height, width: width)
        for o in 0..<outChannels {
            for oy in 0..<out.height {
                for ox in 0..<out.width {
                    var sum = Double(bias?[o] ?? 0)
                    for c in 0..<inChannels {
                        for ky in 0..<kernel {
                            for kx in 0..<kernel {
                                let y = oy * stride + ky - padding, x = ox * stride + kx - padding
                                guard y >= 0, y < height, x >= 0, x < width else { continue }
                                let w = weight[((o * inChannels + c) * kernel + ky) * kernel + kx]
                                sum += Double(w) * Double(input[(c * height + y) * width + x])
                            }
                        }
                    }
                    output[(o * out.height + oy) * out.width + ox] = Float(sum)
                }
            }
        }
    }
}
