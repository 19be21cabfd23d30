import CZlib

/// Encodes 8-bit RGB images as PNG (one IDAT chunk, zlib through the system library).
public enum PNGEncoder {
    /// Largest side accepted, so that a bad size cannot ask for gigabytes.
    public static let maxSide = 16_384

    /// PNG bytes of `pixels`: row-major RGB triples, `width · height · 3` bytes.
    public static func encode(rgb pixels: [UInt8], width: Int, height: Int, compressionLevel: Int32 = 6) throws -> [UInt8] {
        guard width > 0, height > 0, width <= maxSide, height <= maxSide else {
            throw ImageError.invalidRequest("PNG size \(width)×\(height) is outside 1...\(maxSide) per side")
        }
        guard pixels.count == width * height * 3 else {
            throw ImageError.invalidRequest("PNG needs \(width * height * 3) bytes of RGB, got \(pixels.count)")
        }
        // Each scanline is a filter byte (0: none) then the row's bytes.
        let rowBytes = width * 3
        var raw = [UInt8](repeating: 0, count: height * (rowBytes + 1))
        for y in 0..<height {
            raw.withUnsafeMutableBufferPointer { target in
                pixels.withUnsafeBufferPointer { source in
                    (target.baseAddress! + y * (rowBytes + 1) + 1)
                        .update(from: source.baseAddress! + y * rowBytes, count: rowBytes)
                }
            }
        }
        var compressedLength = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedLength))
        let status = compress2(&compressed, &compressedLength, raw, uLong(raw.count), compressionLevel)
        guard status == Z_OK else { throw ImageError.invalidRequest("zlib compress2 failed with status \(status)") }
        compressed.removeSubrange(Int(compressedLength)...)

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = [UInt8]()
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type RGB, deflate, adaptive filters, no interlace
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", compressed, to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// PNG bytes of an image in [0, 1], channel-major [3, height, width] (see `rgbBytes(planar:)`).
    public static func encode(planar image: [Float], width: Int, height: Int) throws -> [UInt8] {
        try encode(rgb: rgbBytes(planar: image, width: width, height: height), width: width, height: height)
    }

    /// RGB bytes of an image in [0, 1], channel-major [3, height, width] as the VAE writes it:
    /// each value is clamped, scaled by 255 and rounded half to even, as diffusers' `numpy_to_pil`
    /// does (`(x * 255).round()` in numpy).
    public static func rgbBytes(planar image: [Float], width: Int, height: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        let plane = width * height
        for pixel in 0..<plane {
            for channel in 0..<3 {
                let value = min(max(image[channel * plane + pixel], 0), 1)
                bytes[pixel * 3 + channel] = UInt8((value * 255).rounded(.toNearestOrEven))
            }
        }
        return bytes
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        appendBigEndian(UInt32(data.count), to: &png)
        let typeBytes = Array(type.utf8)
        png += typeBytes
        png += data
        var crc = crc32(0, nil, 0)
        crc = typeBytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        appendBigEndian(UInt32(crc), to: &png)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
