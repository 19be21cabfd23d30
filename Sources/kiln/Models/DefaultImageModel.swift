import Foundation

/// Where Kiln's own image models, `kiln-shapes-dit`, the GAN `kiln-shapes-gan` and the hybrid
/// `kiln-shapes-madformer`, live when no image model is named.
///
/// The model is small (≈ 8 MB) and ships with Kiln: in a checkout it is `Models/kiln-shapes-dit`,
/// in an installation `share/kiln/models/kiln-shapes-dit` beside `bin/`. It is looked for from the
/// running binary upwards, so `.build/release/kiln` in a checkout and `/usr/local/bin/kiln` in the
/// container both find it; `$KILN_DEFAULT_IMAGE_MODEL` names a folder to use instead of the DiT.
enum DefaultImageModel {
    static let name = "kiln-shapes-dit"
    /// The GAN served beside it (`gan_model`).
    static let ganName = "kiln-shapes-gan"
    /// The autoregressive–diffusion hybrid served beside it (`hybrid_model`).
    static let hybridName = "kiln-shapes-madformer"
    /// The `image_model` value that turns the image endpoint off.
    static let disabled = "none"

    /// The folder `image_model` names: the default model for `""` (nil when it is not installed),
    /// nil for `"none"`, anything else as given.
    static func resolve(_ setting: String, model: String = name) -> String? {
        switch setting {
        case "": return path(model: model)
        case disabled: return nil
        default: return setting
        }
    }

    /// The folder of Kiln's own `model` (the DiT unless named), if one is found.
    static func path(model: String = name) -> String? {
        if model == name, let path = ProcessInfo.processInfo.environment["KILN_DEFAULT_IMAGE_MODEL"], !path.isEmpty {
            return path
        }
        return candidates(model: model).first { FileManager.default.fileExists(atPath: $0 + "/model_index.json") }
    }

    /// Where the model is looked for, nearest first: `Models/` and `share/kiln/models/` in the
    /// binary's folder and in each folder above it.
    static func candidates(model: String = name) -> [String] {
        ancestorsOfExecutable().flatMap { directory in
            [
                directory.appendingPathComponent("Models/\(model)").path,
                directory.appendingPathComponent("share/kiln/models/\(model)").path,
            ]
        }
    }
}

/// The running binary's folder and each folder above it, nearest first.
func ancestorsOfExecutable() -> [URL] {
    var directory = executableURL().deletingLastPathComponent()
    var found: [URL] = []
    while true {
        found.append(directory)
        let parent = directory.deletingLastPathComponent()
        if parent.path == directory.path { return found }
        directory = parent
    }
}

private func executableURL() -> URL {
    // /proc/self/exe names the binary however it was started (a relative path, a symlink, $PATH).
    let procLink = URL(fileURLWithPath: "/proc/self/exe")
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: procLink.path) {
        return URL(fileURLWithPath: resolved)
    }
    return Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
}
