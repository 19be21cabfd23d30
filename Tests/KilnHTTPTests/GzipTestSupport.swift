import Foundation

/// Runs external programs (python3, gzip, openssl) for the codec and TLS tests, which check our
/// output against independent implementations. stdout and stderr go to files, never pipes, so a
/// chatty child can never block on a full pipe.
enum CodecTestProcess {
    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `command` (looked up on PATH) with `arguments`; stdin is `stdinFile` or empty.
    static func run(_ command: String, _ arguments: [String], stdinFile: URL? = nil) throws -> Result {
        let directory = try CodecTestDirectory()
        defer { directory.remove() }
        let outURL = directory.url.appendingPathComponent("stdout")
        let errURL = directory.url.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command] + arguments
        process.standardOutput = outHandle
        process.standardError = errHandle
        if let stdinFile {
            process.standardInput = try FileHandle(forReadingFrom: stdinFile)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: try Data(contentsOf: outURL),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}

/// A unique temporary directory (tests run in parallel), removed by `remove()`.
struct CodecTestDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("kiln-codec-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ bytes: [UInt8], to name: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Deterministic test payloads (xorshift64), so failures reproduce.
enum CodecTestData {
    static func random(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// Compressible text-like data, as JSON responses are.
    static func text(count: Int) -> [UInt8] {
        let line = Array("{\"id\":\"cmpl-42\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"kiln\"}]}\n".utf8)
        return (0..<count).map { line[$0 % line.count] }
    }

    static let payloads: [(name: String, bytes: [UInt8])] = [
        ("empty", []),
        ("one byte", [0x42]),
        ("text 100 KB", text(count: 100_000)),
        ("random 300 KB", random(count: 300_000, seed: 7)),
        ("zeros 3 MiB", [UInt8](repeating: 0, count: 3 << 20)),
    ]
}
