import CZlib
import Foundation
import KilnImage
import Testing

/// PNG output read back by an independent decoder: chunk structure and CRCs checked here, the image
/// data inflated by zlib's `uncompress`, and (when python3 with zlib is on the machine) by Python too.
@Suite struct PNGEncoderTests {
    static func sample(width: Int, height: Int) -> [UInt8] {
        (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 / 7) }
    }

    /// Chunks of a PNG after the signature, each CRC verified.
    static func chunks(_ png: [UInt8]) throws -> [(type: String, data: [UInt8])] {
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var result: [(String, [UInt8])] = []
        var offset = 8
        func be32(_ at: Int) -> Int { png[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        while offset + 12 <= png.count {
            let length = be32(offset)
            let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = Array(png[(offset + 8)..<(offset + 8 + length)])
            let stored = be32(offset + 8 + length)
            let covered = Array(png[(offset + 4)..<(offset + 8 + length)])
            let computed = covered.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            #expect(UInt(stored) == UInt(computed), "CRC of \(type)")
            result.append((type, data))
            offset += 12 + length
        }
        #expect(offset == png.count)
        return result
    }

    @Test(arguments: [(1, 1), (64, 64), (17, 5)])
    func roundTripsThroughZlib(size: (Int, Int)) throws {
        let (width, height) = size
        let rgb = Self.sample(width: width, height: height)
        let png = try PNGEncoder.encode(rgb: rgb, width: width, height: height)
        let chunks = try Self.chunks(png)
        #expect(chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        #expect(chunks[0].data == [0, 0, 0, UInt8(width), 0, 0, 0, UInt8(height), 8, 2, 0, 0, 0])
        var raw = [UInt8](repeating: 0, count: height * (width * 3 + 1))
        var rawLength = uLongf(raw.count)
        #expect(uncompress(&raw, &rawLength, chunks[1].data, uLong(chunks[1].data.count)) == Z_OK)
        #expect(Int(rawLength) == raw.count)
        var pixels: [UInt8] = []
        let stride = width * 3 + 1
        for row in 0..<height {
            let start: Int = row * stride
            #expect(raw[start] == 0)  // filter type None
            pixels.append(contentsOf: raw[(start + 1)..<(start + stride)])
        }
        #expect(pixels == rgb)
    }

    @Test func pythonDecodesTheSameBytes() throws {
        let python = "/usr/bin/env"
        let (width, height) = (9, 4)
        let rgb = Self.sample(width: width, height: height)
        let png = try PNGEncoder.encode(rgb: rgb, width: width, height: height)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-png-\(UUID().uuidString).png")
        try Data(png).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // Python's zlib and struct only (no PIL needed): prints the decoded pixels as hex.
        let script = """
            import struct, sys, zlib
            d = open(sys.argv[1], 'rb').read(); assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            i, idat, w = 8, b'', 0
            while i < len(d):
                n, t = struct.unpack('>I4s', d[i:i+8]); body = d[i+8:i+8+n]
                assert zlib.crc32(t + body) == struct.unpack('>I', d[i+8+n:i+12+n])[0]
                if t == b'IHDR': w = struct.unpack('>I', body[:4])[0]
                if t == b'IDAT': idat += body
                i += 12 + n
            raw = zlib.decompress(idat); stride = w * 3 + 1
            print(b''.join(raw[r*stride+1:(r+1)*stride] for r in range(len(raw)//stride)).hex())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["python3", "-c", script, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return }  // no python3 here: the zlib round trip above still checks the bytes
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if process.terminationStatus == 127 { return }  // env found no python3
        #expect(process.terminationStatus == 0)
        #expect(output == rgb.map { String(format: "%02x", $0) }.joined())
    }

    @Test func rejectsBadSizes() {
        #expect(throws: ImageError.self) { try PNGEncoder.encode(rgb: [1, 2, 3], width: 2, height: 1) }
        #expect(throws: ImageError.self) { try PNGEncoder.encode(rgb: [], width: 0, height: 0) }
        #expect(throws: ImageError.self) { try PNGEncoder.encode(rgb: [], width: 100_000, height: 1) }
    }

    @Test func planarFloatsBecomeRoundedBytes() {
        // 2×1 image, channel-major: R = [0, 1], G = [0.5, -3], B = [0.002, 2].
        let bytes = PNGEncoder.rgbBytes(planar: [0, 1, 0.5, -3, 0.002, 2], width: 2, height: 1)
        #expect(bytes == [0, 128, 1, 255, 0, 255])
    }
}
