import Foundation
import KilnText
import KilnTokenizer

/// Loads a language model for a command, with progress on a terminal and a one-line report of
/// what was loaded (architecture, parameters, size, tensor types).
enum ModelLoader {
    struct Loaded {
        let model: TransformerModel
        let tokenizer: Tokenizer
        let path: String
        let loadSeconds: Double
    }

    /// Resolves `argument` (nil: the default model, fetched on first need), maps the file,
    /// builds the tokenizer and pages the weights in.
    static func load(_ argument: String?, options: ModelOptions, quiet: Bool = false) throws -> Loaded {
        let path = try DefaultModel.resolve(argument)
        let started = DispatchTime.now().uptimeNanoseconds
        let showProgress = !quiet && isatty(STDERR_FILENO) == 1
        if !quiet { log("loading \(path)") }
        let model = try TransformerModel(path: path, options: options)
        // The tokenizer reads the same mapped file: its metadata is parsed once.
        let tokenizer = try Tokenizer(gguf: model.file)
        for warning in tokenizer.warnings { log("warning: \(warning)") }
        model.prefetchWeights { fraction in
            guard showProgress else { return }
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\rkiln: reading weights \(bar) \(Int(fraction * 100))%".utf8))
        }
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        if !quiet {
            log(model.summary.description)
            let resident = residentBytes().map { String(format: " · resident %.1f MB", Double($0) / 1e6) } ?? ""
            log(
                String(
                    format: "loaded in %.2f s · %d threads · context %d", seconds, model.pool.threadCount,
                    model.contextLength) + resident)
        }
        return Loaded(model: model, tokenizer: tokenizer, path: path, loadSeconds: seconds)
    }

    static func log(_ message: String) {
        FileHandle.standardError.write(Data("kiln: \(message)\n".utf8))
    }
}

extension ModelLoader {
    /// The process's resident memory in bytes (Linux `/proc/self/statm`), nil elsewhere.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
