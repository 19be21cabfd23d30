#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The token ↔ image rearrangements of a diffusion transformer (DiT, PixArt): cutting a channel-major
/// image into non-overlapping p×p patches, putting predicted patches back, and the fixed 2-D sin-cos
/// position table the patch tokens are offset by.
public enum Patches {
    /// image [channels, height, width] → patches [(height/p)·(width/p), channels·p·p], patch rows in
    /// raster order, each row ordered (channel, dy, dx) — the order of a p×p stride-p convolution's
    /// weight [out, channels, p, p], so that the patch embedding is one matrix product.
    /// `height` and `width` must be multiples of `patchSize`.
    public static func patchify(
        _ image: UnsafePointer<Float>, into patches: UnsafeMutablePointer<Float>,
        channels: Int, height: Int, width: Int, patchSize: Int
    ) {
        let p = patchSize, columns = width / p, rowWidth = channels * p * p
        for patchRow in 0..<(height / p) {
            for patchColumn in 0..<columns {
                var out = patches + (patchRow * columns + patchColumn) * rowWidth
                for channel in 0..<channels {
                    for dy in 0..<p {
                        let source = image + (channel * height + patchRow * p + dy) * width + patchColumn * p
                        for dx in 0..<p { out[dx] = source[dx] }
                        out += p
                    }
                }
            }
        }
    }

    /// patches [(height/p)·(width/p), p·p·channels], each row ordered (dy, dx, channel) as diffusers'
    /// `proj_out` writes it → image [channels, height, width].
    public static func unpatchify(
        _ patches: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>,
        channels: Int, height: Int, width: Int, patchSize: Int
    ) {
        let p = patchSize, columns = width / p, rowWidth = channels * p * p
        for patchRow in 0..<(height / p) {
            for patchColumn in 0..<columns {
                let source = patches + (patchRow * columns + patchColumn) * rowWidth
                for dy in 0..<p {
                    for dx in 0..<p {
                        let y = patchRow * p + dy, x = patchColumn * p + dx
                        for channel in 0..<channels {
                            image[(channel * height + y) * width + x] = source[(dy * p + dx) * channels + channel]
                        }
                    }
                }
            }
        }
    }

    /// The 2-D sin-cos position table [rows·columns, width] of a patch grid (diffusers'
    /// `get_2d_sincos_pos_embed`), computed in double precision as diffusers does, then rounded.
    /// A token at (row, column) takes grid coordinates column / (columns / baseSize) / scale and
    /// row / (rows / baseSize) / scale; the first half of its width encodes the column coordinate,
    /// the second half the row coordinate, each as [sin | cos] of coordinate · 10000^(−i / (width/4)).
    public static func sinCosPositions(rows: Int, columns: Int, width: Int, baseSize: Double, interpolationScale: Double) -> [Float] {
        precondition(width % 4 == 0, "a 2-D sin-cos table needs a width divisible by 4")
        let quarter = width / 4
        var table = [Float](repeating: 0, count: rows * columns * width)
        let frequencies = (0..<quarter).map { 1 / pow(10000, Double($0) / Double(quarter)) }
        for row in 0..<rows {
            for column in 0..<columns {
                let coordinates = [
                    Double(column) / (Double(columns) / baseSize) / interpolationScale,
                    Double(row) / (Double(rows) / baseSize) / interpolationScale,
                ]
                let base = (row * columns + column) * width
                for (half, coordinate) in coordinates.enumerated() {
                    for index in 0..<quarter {
                        let angle = coordinate * frequencies[index]
                        table[base + half * 2 * quarter + index] = Float(sin(angle))
                        table[base + half * 2 * quarter + quarter + index] = Float(cos(angle))
                    }
                }
            }
        }
        return table
    }
}
