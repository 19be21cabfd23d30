import Foundation
import KilnHTTP
import Testing

/// Hostile and broken gzip input: bombs, size limits, corruption, truncation.
@Suite struct GzipDecompressorLimitTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/gzip")

    /// The 1 GiB-of-zeros bomb (one gzip member of 1,042,069 bytes), unwrapped from its fixture.
    static func bomb() throws -> [UInt8] {
        let wrapped = try Data(contentsOf: fixtures.appendingPathComponent("zeros-1GiB.gz.gz"))
        let bomb = try GzipDecompressor.decompress([UInt8](wrapped), maxOutputBytes: 2_000_000)
        #expect(bomb.count == 1_042_069)
        return bomb
    }

    @Test func bombFailsEarlyWithBoundedOutput() throws {
        let bomb = try Self.bomb()
        let limit = 16 << 20
        let decompressor = GzipDecompressor(maxOutputBytes: limit)
        var consumed = 0
        var received = 0
        var caught: GzipError?
        do {
            while consumed < bomb.count {
                let end = min(bomb.count, consumed + 16_384)
                received += try decompressor.decompress(Array(bomb[consumed..<end])).count
                consumed = end
            }
            try decompressor.finish()
        } catch let error as GzipError {
            caught = error
        }
        #expect(caught == .outputTooLarge(limit: limit))
        #expect(received <= limit)
        #expect(decompressor.totalOutputBytes <= limit)
        // zeros deflate ~1000:1, so the limit is reached after ~16 KiB of input: the bomb's remaining
        // megabyte (a gigabyte of output) is never inflated.
        #expect(consumed <= 64 * 1024, "consumed \(consumed) bytes of input before failing")
    }

    @Test func bombFailsInOneShotToo() throws {
        let bomb = try Self.bomb()
        #expect(throws: GzipError.outputTooLarge(limit: 1_000_000)) {
            _ = try GzipDecompressor.decompress(bomb, maxOutputBytes: 1_000_000)
        }
    }

    @Test func bombReallyHoldsOneGibibyte() throws {
        // With a limit of exactly 1 GiB it decodes completely; output is discarded piece by piece.
        let bomb = try Self.bomb()
        let decompressor = GzipDecompressor(maxOutputBytes: 1 << 30)
        var sawNonZero = false
        var offset = 0
        while offset < bomb.count {
            let end = min(bomb.count, offset + 4096)
            let piece = try decompressor.decompress(Array(bomb[offset..<end]))
            if let first = piece.first, let last = piece.last, first != 0 || last != 0 { sawNonZero = true }
            offset = end
        }
        try decompressor.finish()
        #expect(decompressor.totalOutputBytes == 1 << 30)
        #expect(!sawNonZero)
    }

    @Test func limitIsExactAndCountsAcrossCalls() throws {
        let payload = CodecTestData.random(count: 10_000, seed: 9)
        let compressed = GzipCompressor.compress(payload)
        #expect(try GzipDecompressor.decompress(compressed, maxOutputBytes: 10_000) == payload)
        #expect(throws: GzipError.outputTooLarge(limit: 9_999)) {
            _ = try GzipDecompressor.decompress(compressed, maxOutputBytes: 9_999)
        }
        #expect(try GzipDecompressor.decompress(GzipCompressor.compress([]), maxOutputBytes: 0).isEmpty)
        #expect(throws: GzipError.outputTooLarge(limit: 0)) {
            _ = try GzipDecompressor.decompress(GzipCompressor.compress([1]), maxOutputBytes: 0)
        }
        // Two members of 6,000 bytes each against a 10,000-byte limit: the second one overflows.
        let first = GzipCompressor.compress(Array(payload[0..<6_000]))
        let second = GzipCompressor.compress(Array(payload[4_000..<10_000]))
        let decompressor = GzipDecompressor(maxOutputBytes: 10_000)
        #expect(try decompressor.decompress(first).count == 6_000)
        #expect(throws: GzipError.outputTooLarge(limit: 10_000)) { try decompressor.decompress(second) }
        #expect(decompressor.totalOutputBytes <= 10_000)
        // The instance is spent: it keeps reporting the same error.
        #expect(throws: GzipError.outputTooLarge(limit: 10_000)) { try decompressor.decompress(first) }
        #expect(throws: GzipError.outputTooLarge(limit: 10_000)) { try decompressor.finish() }
    }

    @Test func outputCapacityStaysWithinTheLimit() throws {
        // Doubling growth would reach 4 MiB of capacity for 3 MiB of output; the limit caps it.
        let limit = 3 << 20
        let compressed = GzipCompressor.compress([UInt8](repeating: 7, count: limit))
        let output = try GzipDecompressor.decompress(compressed, maxOutputBytes: limit)
        #expect(output.count == limit)
        #expect(output.capacity <= limit + 64 * 1024, "capacity \(output.capacity)")
    }

    @Test func malformedInputIsRejected() throws {
        let valid = GzipCompressor.compress(CodecTestData.text(count: 50_000))
        func corrupted(_ index: Int, _ value: UInt8) -> [UInt8] {
            var bytes = valid
            bytes[index] = value
            return bytes
        }
        let cases: [(String, [UInt8])] = [
            ("plain HTTP", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
            ("zlib wrapper instead of gzip", [0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
            ("bad second magic byte", corrupted(1, 0x8c)),
            ("unknown compression method", corrupted(2, 7)),
            ("reserved header flags", corrupted(3, 0xe0)),
            ("corrupt block type", corrupted(10, valid[10] | 0x06)),
            ("bad CRC-32", corrupted(valid.count - 8, valid[valid.count - 8] ^ 0xff)),
            ("bad length", corrupted(valid.count - 1, valid[valid.count - 1] ^ 0x01)),
            ("garbage after a member", valid + Array("trailing".utf8)),
            ("garbage after zero padding", valid + [0, 0, 0] + Array("garbage".utf8)),
        ]
        for (name, input) in cases {
            var caught: GzipError?
            do {
                _ = try GzipDecompressor.decompress(input, maxOutputBytes: 1 << 20)
            } catch let error as GzipError {
                caught = error
            }
            guard case .malformed(let reason) = caught else {
                Issue.record("\(name): expected .malformed, got \(String(describing: caught))")
                continue
            }
            #expect(!reason.isEmpty, "\(name)")
        }
        // Zero padding after a member is tolerated, as gzip -d and Python's gzip do.
        #expect(try GzipDecompressor.decompress(valid + [0, 0, 0, 0], maxOutputBytes: 1 << 20).count == 50_000)
    }

    @Test func everyTruncationIsDetected() throws {
        let valid = GzipCompressor.compress(CodecTestData.text(count: 3_000) + CodecTestData.random(count: 200, seed: 1))
        for length in 1..<valid.count {
            let decompressor = GzipDecompressor(maxOutputBytes: 1 << 20)
            // A prefix of valid data is not malformed; only its end is wrong.
            _ = try decompressor.decompress(Array(valid[0..<length]))
            #expect(throws: GzipError.truncated, "prefix of \(length) bytes") { try decompressor.finish() }
        }
        // A complete first member followed by half of a second is truncated too.
        let twoMembers = valid + Array(valid[0..<(valid.count / 2)])
        #expect(throws: GzipError.truncated) {
            _ = try GzipDecompressor.decompress(twoMembers, maxOutputBytes: 1 << 20)
        }
        // Nothing at all is an empty body, not an error (as with Python's gzip.decompress(b"")).
        #expect(try GzipDecompressor.decompress([], maxOutputBytes: 10).isEmpty)
    }

    @Test func errorsDescribeThemselves() {
        #expect(GzipError.outputTooLarge(limit: 5).description.contains("5 bytes"))
        #expect(GzipError.truncated.description.contains("gzip"))
        #expect(GzipError.malformed(reason: "incorrect header check").description.contains("incorrect header check"))
    }
}
