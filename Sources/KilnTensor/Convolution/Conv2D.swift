import CKilnKernels

/// Two-dimensional convolution over one image in channel-major layout (PyTorch's NCHW for batch 1).
///
/// The receptive fields of a band of output rows are gathered into a patch matrix (im2col,
/// [inChannels·kernel·kernel, bandPixels], each row a shifted copy of an input row) and the weight
/// matrix ([outChannels, inChannels·kernel·kernel], PyTorch's layout as stored, in the file's type)
/// multiplies it straight into the channel-major output rows. Bands bound the patch matrix's size
/// (a 3×3 convolution's patches are 9× its input) and are shared between threads; a 1×1 stride-1
/// convolution multiplies the input itself. Dilation and groups are not supported: the diffusion
/// models here use neither.
public struct Conv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    /// Output pixels a band aims at: enough columns that the weights' packing is paid back, few
    /// enough that a band's patches stay in the last-level cache.
    static let bandPixels = 512

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

    var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Output rows per band, and the number of bands, for an output of this size.
    func bands(outHeight: Int, outWidth: Int) -> (rows: Int, count: Int) {
        let rows = max(1, min(outHeight, Self.bandPixels / max(outWidth, 1)))
        let count = (outHeight + rows - 1) / rows
        return (rows, count)
    }

    /// Floats of scratch `apply` needs for an input of this size on `context` (one band's patches
    /// per thread, or the Winograd path's transformed input and products).
    public func scratchCount(height: Int, width: Int, context: KernelContext) -> Int {
        if isPointwise { return 0 }
        if let plan = winogradPlan(height: height, width: width, settings: context.settings) { return plan.scratchCount }
        let out = outputSize(height: height, width: width)
        let band = bands(outHeight: out.height, outWidth: out.width)
        return min(context.width, band.count) * inChannels * kernel * kernel * band.rows * out.width
    }

    /// 3×3 stride-1 padding-1 convolutions over at least this many 2×2 output tiles take the
    /// Winograd F(2×2, 3×3) path: 16 products of [out × in]·[in × tiles] instead of one with 9×
    /// the depth, 2.25× fewer multiplies. Below it the per-call weight transform does not pay. The
    /// default, 64 (a 16×16 map), puts the SD-1.5 UNet's 1280-channel 16×16 convolutions on this
    /// path too: at 512 px they are ~90 GFLOP per sample, and 192 had left them on the im2col
    /// product. `KernelSettings.winogradMinimumTiles` sets it (0 turns both Winograd paths off).
    static func winogradMinimumTiles(_ settings: KernelSettings) -> Int {
        settings.winogradMinimumTiles == 0 ? Int.max : settings.winogradMinimumTiles
    }

    /// 3×3 stride-1 padding-1 convolutions over at least this many 4×4 output tiles take Winograd
    /// F(4×4, 3×3) instead of F(2×2, 3×3): 36 products over a quarter of the tiles, 2.25 multiplies
    /// per output instead of 4, for a larger weight transform per call (36 values per kernel
    /// instead of 16) and a few times F(2×2)'s rounding error (~1e-5 relative at 320 channels).
    /// The default, 64 (a 32×32 map), puts the SD-1.5 UNet's 320- and 640-channel convolutions on
    /// it at 512 px (and the 320-channel ones at 256 px). Below, the products are too few to pay
    /// for the bigger weight transform, even shared by a batch (`PackingTeam`; before it was
    /// shared, 256 tiles was the break-even). `KernelSettings.winograd4MinimumTiles` sets it (0
    /// turns F(4×4) off; F(2×2) then takes those maps).
    static func winograd4MinimumTiles(_ settings: KernelSettings) -> Int {
        settings.winograd4MinimumTiles == 0 ? Int.max : settings.winograd4MinimumTiles
    }

    /// How a Winograd convolution is cut to bound its scratch: bands of whole tile rows (about 4 M
    /// floats of transformed input each) and chunks of output channels (about 8 M floats of
    /// transformed weights each, so that most layers transform their weights once).
    struct WinogradPlan {
        /// Output pixels per tile side: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3).
        let tileSize: Int
        let tilesX: Int
        let tilesY: Int
        let bandRows: Int
        let chunk: Int
        let inChannels: Int
        /// Transformed values per tile: (tileSize + 2)², 16 or 36.
        var elements: Int { (tileSize + 2) * (tileSize + 2) }
        var bandTiles: Int { bandRows * tilesX }
        var inputCount: Int { elements * inChannels * bandTiles }
        /// The transformed input and the products (the transformed weights live in a `PackingTeam` packing).
        var scratchCount: Int { inputCount + elements * chunk * bandTiles }
    }

    /// Whether an input of this size takes the Winograd path under `settings`.
    public func winogradApplies(height: Int, width: Int, settings: KernelSettings) -> Bool {
        winogradPlan(height: height, width: width, settings: settings) != nil
    }

    /// The Winograd tile size an input of this size takes under `settings`: 4, 2, or nil (im2col).
    public func winogradTileSize(height: Int, width: Int, settings: KernelSettings) -> Int? {
        winogradPlan(height: height, width: width, settings: settings)?.tileSize
    }

    func winogradPlan(height: Int, width: Int, settings: KernelSettings) -> WinogradPlan? {
        guard kernel == 3, stride == 1, padding == 1 else { return nil }
        let tiles4 = ((width + 3) / 4) * ((height + 3) / 4)
        let minimumTiles = Self.winogradMinimumTiles(settings)
        let tileSize: Int
        if tiles4 >= Self.winograd4MinimumTiles(settings) && minimumTiles != Int.max {
            tileSize = 4
        } else if ((width + 1) / 2) * ((height + 1) / 2) >= minimumTiles {
            tileSize = 2
        } else {
            return nil
        }
        let elements = (tileSize + 2) * (tileSize + 2)
        let tilesX = (width + tileSize - 1) / tileSize, tilesY = (height + tileSize - 1) / tileSize
        let bandRows = max(1, min(tilesY, (1 << 22) / (elements * inChannels * tilesX)))
        let chunk =
            elements * outChannels * inChannels <= 1 << 23
            ? outChannels
            : min(outChannels, max(48, (1 << 23) / (elements * inChannels) / 48 * 48))
        return WinogradPlan(
            tileSize: tileSize, tilesX: tilesX, tilesY: tilesY, bandRows: bandRows, chunk: chunk,
            inChannels: inChannels)
    }

    /// output [outChannels, outH, outW] = conv(input [inChannels, height, width]) + bias, with float
    /// weights [outChannels, inChannels, kernel, kernel], on `context`; `scratch` holds
    /// `scratchCount(height:width:context:)` floats.
    public func apply(
        input: UnsafePointer<Float>, height: Int, width: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: KernelContext
    ) {
        apply(
            input: input, height: height, width: width,
            weight: MatrixOperand(weight, rowStride: inChannels * kernel * kernel), bias: bias, output: output, scratch: scratch,
            context: context)
    }

    /// As above with the weights as a matrix [outChannels, inChannels·kernel·kernel] of any stored type.
    public func apply(
        input: UnsafePointer<Float>, height: Int, width: Int,
        weight: MatrixOperand, bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: KernelContext
    ) {
        if let plan = winogradPlan(height: height, width: width, settings: context.settings) {
            applyWinograd(
                plan, input: input, height: height, width: width, weight: weight, bias: bias, output: output,
                scratch: scratch, context: context)
            return
        }
        let out = outputSize(height: height, width: width)
        let pixels = out.height * out.width
        for channel in 0..<outChannels {
            output.advanced(by: channel * pixels).update(repeating: bias?[channel] ?? 0, count: pixels)
        }
        if isPointwise {
            GEMM.multiply(
                weight: weight, MatrixOperand(input, rowStride: pixels), into: output,
                m: outChannels, n: pixels, k: inChannels, accumulate: true, context: context)
            return
        }
        let patch = inChannels * kernel * kernel
        let band = bands(outHeight: out.height, outWidth: out.width)
        let bandSize = band.rows * out.width
        GEMM.withPackedWeight(weight, rows: outChannels, depth: patch, context: context) { packed in
            if band.count == 1 {
                // One band (small maps): the product itself is split between threads.
                gather(input, height: height, width: width, outWidth: out.width, rows: 0..<out.height, into: scratch, stride: pixels)
                GEMM.multiply(
                    packedWeight: packed, MatrixOperand(scratch, rowStride: pixels), into: output,
                    m: outChannels, n: pixels, k: patch, accumulate: true, context: context)
                return
            }
            context.runInSlots(band.count, slots: context.width) { slot, index in
                let rows = (index * band.rows)..<min(out.height, (index + 1) * band.rows)
                let columns = rows.count * out.width
                let patches = scratch + slot * patch * bandSize
                gather(input, height: height, width: width, outWidth: out.width, rows: rows, into: patches, stride: columns)
                GEMM.multiplyOnThisThread(
                    packedWeight: packed, MatrixOperand(patches, rowStride: columns),
                    into: output + rows.lowerBound * out.width,
                    m: outChannels, n: columns, k: patch, ldc: pixels, accumulate: true)
            }
        }
    }

    /// Winograd F(2×2, 3×3) or F(4×4, 3×3), band by band of tile rows: the band's input transformed
    /// ([E][in][bandTiles], E = 16 or 36 elements); per chunk of output channels the weights
    /// transformed and packed for the product (E packings of [chunk × in], once per batch, and once
    /// per call when one chunk holds them all), E products into [E][chunk][bandTiles] spread over
    /// the threads, and the output transform (with the bias) into the band's output rows.
    private func applyWinograd(
        _ plan: WinogradPlan, input: UnsafePointer<Float>, height: Int, width: Int, weight: MatrixOperand,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        context: KernelContext
    ) {
        let inChannels = self.inChannels, outChannels = self.outChannels
        let transformed = scratch, products = scratch + plan.inputCount
        let workers = context.width
        let large = plan.tileSize == 4, elements = plan.elements

        func transformInput(_ bandStart: Int, _ bandEnd: Int) {
            let tiles = (bandEnd - bandStart) * plan.tilesX
            let parts = min(workers * 2, inChannels)
            context.run(parts) { part in
                let range = (part * inChannels / parts)..<((part + 1) * inChannels / parts)
                let (channel0, channel1) = (Int32(range.lowerBound), Int32(range.upperBound))
                if large {
                    kiln_winograd4_input(
                        input, Int32(height), Int32(width), Int32(bandStart), Int32(bandEnd),
                        channel0, channel1, transformed, inChannels * tiles)
                } else {
                    kiln_winograd_input(
                        input, Int32(height), Int32(width), Int32(bandStart), Int32(bandEnd),
                        channel0, channel1, transformed, inChannels * tiles)
                }
            }
        }

        /// The E products of output channels first ..< first + count and their output transform.
        func multiplyAndFinish(_ bandStart: Int, _ bandEnd: Int, first: Int, count: Int, packed: UnsafePointer<Float>) {
            let tiles = (bandEnd - bandStart) * plan.tilesX
            let productStride = count * tiles, packedStride = kiln_gemm_packed_a_count(Int32(count), Int32(inChannels))
            context.runInSlots(elements, slots: workers) { _, element in
                GEMM.multiplyOnThisThread(
                    packedWeight: packed + element * packedStride,
                    MatrixOperand(transformed + element * inChannels * tiles, rowStride: tiles),
                    into: products + element * productStride, m: count, n: tiles, k: inChannels)
            }
            let parts = min(workers * 2, count)
            context.run(parts) { part in
                let range = (first + part * count / parts)..<(first + (part + 1) * count / parts)
                let source = products + (range.lowerBound - first) * tiles
                if large {
                    kiln_winograd4_output(
                        source, productStride, Int32(range.lowerBound), Int32(range.upperBound), Int32(height),
                        Int32(width), Int32(bandStart), Int32(bandEnd), bias, output)
                } else {
                    kiln_winograd_output(
                        source, productStride, Int32(range.lowerBound), Int32(range.upperBound), Int32(height),
                        Int32(width), Int32(bandStart), Int32(bandEnd), bias, output)
                }
            }
        }

        let bands = Swift.stride(from: 0, to: plan.tilesY, by: plan.bandRows).map { ($0, min(plan.tilesY, $0 + plan.bandRows)) }
        if plan.chunk >= outChannels {
            withWinogradWeights(plan, weight, first: 0, count: outChannels, context: context) { packed in
                for (bandStart, bandEnd) in bands {
                    transformInput(bandStart, bandEnd)
                    multiplyAndFinish(bandStart, bandEnd, first: 0, count: outChannels, packed: packed)
                }
            }
            return
        }
        for (bandStart, bandEnd) in bands {
            transformInput(bandStart, bandEnd)
            for first in Swift.stride(from: 0, to: outChannels, by: plan.chunk) {
                let count = min(plan.chunk, outChannels - first)
                withWinogradWeights(plan, weight, first: first, count: count, context: context) { packed in
                    multiplyAndFinish(bandStart, bandEnd, first: first, count: count, packed: packed)
                }
            }
        }
    }

    /// `body(packed)` with the Winograd transform of output channels first ..< first + count packed
    /// for the product: E packings of [count × in], each `kiln_gemm_packed_a_count(count, in)`
    /// floats. Built in parts of whole panels (six channels each, transformed into a small buffer
    /// and packed from there), shared by a batch's samples (`PackingTeam`).
    private func withWinogradWeights(
        _ plan: WinogradPlan, _ weight: MatrixOperand, first: Int, count: Int, context: KernelContext,
        _ body: (UnsafePointer<Float>) -> Void
    ) {
        let inChannels = self.inChannels, elements = plan.elements, large = plan.tileSize == 4
        let packedStride = kiln_gemm_packed_a_count(Int32(count), Int32(inChannels))
        let panels = (count + 5) / 6, parts = GEMM.packingParts(panels: panels, context: context)
        let key = PackingTeam.Key(weight.base, layout: [2, plan.tileSize, first, count, inChannels, Int(weight.type.kernelType)])
        PackingTeam.withPacking(
            key, floats: elements * packedStride, parts: parts, context: context,
            build: { packed, part in
                context.packBuffers.withBuffer(elements * 6 * inChannels) { rows in
                    for panel in (part * panels / parts)..<((part + 1) * panels / parts) {
                        let row0 = panel * 6, size = min(6, count - row0)
                        let (k0, k1) = (Int32(first + row0), Int32(first + row0 + size))
                        if large {
                            kiln_winograd4_weights(weight.type.kernelType, weight.base, Int32(inChannels), k0, k1, rows, size * inChannels)
                        } else {
                            kiln_winograd_weights(weight.type.kernelType, weight.base, Int32(inChannels), k0, k1, rows, size * inChannels)
                        }
                        for element in 0..<elements {
                            kiln_gemm_pack_a(
                                Int32(count), Int32(inChannels), Int32(row0), Int32(size), Int32(KILN_TYPE_F32),
                                rows + element * size * inChannels, inChannels, 1, packed + element * packedStride)
                        }
                    }
                }
            }, use: body)
    }

    /// im2col of output rows `rows`: patches[(c·k + ky)·k + kx][(oy − first)·outWidth + ox] =
    /// input[c][oy·stride + ky − padding][ox·stride + kx − padding], 0 outside the input.
    private func gather(
        _ input: UnsafePointer<Float>, height: Int, width: Int, outWidth: Int, rows: Range<Int>,
        into patches: UnsafeMutablePointer<Float>, stride rowStride: Int
    ) {
        let kernel = self.kernel, stride = self.stride, padding = self.padding
        for channel in 0..<inChannels {
            let plane = input + channel * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    var target = patches + ((channel * kernel + ky) * kernel + kx) * rowStride
                    // Output columns whose input column is inside the image: ox·stride + kx − padding ∈ [0, width).
                    let first = max(0, (padding - kx + stride - 1) / stride)
                    let reach = width - 1 + padding - kx
                    let last = reach < 0 ? 0 : min(outWidth, reach / stride + 1)
                    for oy in rows {
                        let y = oy * stride + ky - padding
                        if y < 0 || y >= height || first >= last {
                            target.update(repeating: 0, count: outWidth)
                        } else {
                            let line = plane + y * width + kx - padding
                            if first > 0 { target.update(repeating: 0, count: first) }
                            if stride == 1 {
                                (target + first).update(from: line + first, count: last - first)
                            } else {
                                for ox in first..<last { target[ox] = line[ox * stride] }
                            }
                            if last < outWidth { (target + last).update(repeating: 0, count: outWidth - last) }
                        }
                        target += outWidth
                    }
                }
            }
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
