import Foundation
import KilnHTTP
import Testing

/// Our gzip output must decode with independent decoders (Python's `gzip`, GNU `gzip -d`), and we
/// must decode theirs.
@Suite struct GzipRoundTripTests {
    static let pythonDecode = """
        import gzip, sys
        sys.stdout.buffer.write(gzip.decompress(open(sys.argv[1], 'rb').read()))
        """
    static let pythonEncode = """
        import gzip, sys
        data = open(sys.argv[1], 'rb').read()
        level = int(sys.argv[2])
        # GzipFile with a file name sets the FNAME header field and a real mtime, unlike gzip.compress.
        import io
        buffer = io.BytesIO()
        with gzip.GzipFile(filename='body.json', mode='wb', compresslevel=level, fileobj=buffer) as f:
            f.write(data)
        sys.stdout.buffer.write(buffer.getvalue())
        """

    @Test(arguments: [Int32(0), 1, 6, 9])
    func pythonDecodesOurOutput(level: Int32) throws {
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        for (name, payload) in CodecTestData.payloads {
            let compressed = GzipCompressor.compress(payload, level: level)
            #expect(Array(compressed.prefix(2)) == [0x1f, 0x8b], "\(name): gzip magic")
            let file = try directory.write(compressed, to: "body.gz")
            let result = try CodecTestProcess.run("python3", ["-c", Self.pythonDecode, file.path])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect([UInt8](result.stdout) == payload, "\(name) at level \(level)")
        }
    }

    @Test func gnuGzipDecodesOurOutput() throws {
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        for (name, payload) in CodecTestData.payloads {
            let file = try directory.write(GzipCompressor.compress(payload), to: "body.gz")
            let result = try CodecTestProcess.run("gzip", ["-d", "-c", file.path])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect([UInt8](result.stdout) == payload, "\(name)")
        }
    }

    @Test func compressionActuallyCompresses() {
        let text = CodecTestData.text(count: 100_000)
        #expect(GzipCompressor.compress(text).count < text.count / 20)
        // Random data does not compress; gzip's overhead is a few bytes per 32 KiB stored block.
        let random = CodecTestData.random(count: 100_000, seed: 3)
        #expect(GzipCompressor.compress(random).count < random.count + 200)
    }

    @Test(arguments: [1, 9])
    func weDecodePythonOutput(level: Int) throws {
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        for (name, payload) in CodecTestData.payloads {
            let file = try directory.write(payload, to: "body.json")
            let result = try CodecTestProcess.run("python3", ["-c", Self.pythonEncode, file.path, "\(level)"])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let decoded = try GzipDecompressor.decompress([UInt8](result.stdout), maxOutputBytes: 8 << 20)
            #expect(decoded == payload, "\(name)")
        }
    }

    @Test func weDecodeGnuGzipOutput() throws {
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        for (name, payload) in CodecTestData.payloads {
            let file = try directory.write(payload, to: "body.json")
            // Without -n, gzip stores the file name and mtime: header fields we must skip.
            let result = try CodecTestProcess.run("gzip", ["-c", file.path])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let decoded = try GzipDecompressor.decompress([UInt8](result.stdout), maxOutputBytes: 8 << 20)
            #expect(decoded == payload, "\(name)")
        }
    }

    @Test func concatenatedMembersDecodeLikePython() throws {
        let first = CodecTestData.text(count: 5_000)
        let second = CodecTestData.random(count: 7_000, seed: 11)
        let stream = GzipCompressor.compress(first) + GzipCompressor.compress([]) + GzipCompressor.compress(second)
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        let file = try directory.write(stream, to: "members.gz")
        let python = try CodecTestProcess.run("python3", ["-c", Self.pythonDecode, file.path])
        #expect(python.status == 0, "\(python.stderr)")
        #expect([UInt8](python.stdout) == first + second)
        #expect(try GzipDecompressor.decompress(stream, maxOutputBytes: 1 << 20) == first + second)
        // Also when a member boundary falls inside one piece and pieces are tiny.
        let decompressor = GzipDecompressor(maxOutputBytes: 1 << 20)
        var output: [UInt8] = []
        var index = 0
        while index < stream.count {
            let end = min(stream.count, index + 7)
            output += try decompressor.decompress(Array(stream[index..<end]))
            index = end
        }
        try decompressor.finish()
        #expect(output == first + second)
    }

    @Test func streamCompressorFlushMakesEveryEventDecodable() throws {
        let events = (0..<20).map { Array("data: {\"token\":\"\($0)\"}\n\n".utf8) }
        let compressor = GzipStreamCompressor(level: 6)
        let decompressor = GzipDecompressor(maxOutputBytes: 1 << 20)
        var wire: [UInt8] = []
        for event in events {
            var piece = compressor.compress(event)
            piece += compressor.flush()
            wire += piece
            // What has been sent so far decodes to exactly this event: nothing is held back.
            #expect(try decompressor.decompress(piece) == event)
        }
        let tail = compressor.finish()
        wire += tail
        #expect(try decompressor.decompress(tail).isEmpty)
        try decompressor.finish()
        #expect(compressor.finish().isEmpty)

        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        let file = try directory.write(wire, to: "stream.gz")
        let result = try CodecTestProcess.run("gzip", ["-d", "-c", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect([UInt8](result.stdout) == events.flatMap { $0 })
    }

    @Test func byteAtATimeEqualsOneShot() throws {
        let payload = CodecTestData.text(count: 20_000) + CodecTestData.random(count: 3_000, seed: 5)
        let compressed = GzipCompressor.compress(payload, level: 9)
        let decompressor = GzipDecompressor(maxOutputBytes: payload.count)
        var output: [UInt8] = []
        for byte in compressed { output += try decompressor.decompress([byte]) }
        try decompressor.finish()
        #expect(output == payload)
        #expect(decompressor.totalOutputBytes == payload.count)
    }
}
