import Foundation

/// Runs a fuzz target's entry point once on each file named on the command line (a folder stands
/// for the files in it), for builds without libFuzzer.
///
/// Fuzz/run.sh builds with `-D LIBFUZZER`, and libFuzzer then supplies `main`. A plain
/// `swift build --package-path Fuzz` has no libFuzzer, so each target's `@main` calls this: the
/// package builds, and a corpus can be replayed as a regression suite without sanitizers, e.g.
/// `swift run --package-path Fuzz JSONFuzzer Fuzz/corpus/json`.
public func replayInputs(through entryPoint: (UnsafePointer<UInt8>, Int) -> CInt) {
    var paths: [String] = []
    for argument in CommandLine.arguments.dropFirst() {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder) else {
            FileHandle.standardError.write(Data("no such file: \(argument)\n".utf8))
            exit(2)
        }
        if isFolder.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
            paths += names.sorted().map { argument + "/" + $0 }
        } else {
            paths.append(argument)
        }
    }
    for path in paths {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
            exit(2)
        }
        // Copy into an exact-size buffer, as libFuzzer passes inputs.
        let bytes = [UInt8](data)
        bytes.withUnsafeBufferPointer { buffer in
            let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(buffer.count, 1))
            defer { storage.deallocate() }
            if let base = buffer.baseAddress { storage.initialize(from: base, count: buffer.count) }
            _ = entryPoint(storage, buffer.count)
        }
    }
    print("replayed \(paths.count) inputs")
}
