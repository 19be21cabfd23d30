import Foundation

/// The bytes an image or embedding model's weights take, estimated as the language models' are:
/// by what their files hold (a GGUF file, or a folder's weight files, subfolders included). Read
/// before the model loads, so that the memory budget can count it beside the language models.
enum ModelFootprint {
    /// The extensions of weight files in a model folder (safetensors, GGUF, PyTorch pickles).
    static let weightExtensions: Set<String> = ["safetensors", "gguf", "bin"]

    /// The size of `path` if it is a file; the total of its weight files if it is a folder
    /// (links followed); 0 when nothing can be read there.
    static func bytes(atPath path: String) -> Int {
        let url = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else { return 0 }
        guard isFolder.boolValue else { return fileSize(url) }
        guard let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
        var total = 0
        for case let file as URL in walker where weightExtensions.contains(file.pathExtension.lowercased()) {
            total += fileSize(file.resolvingSymlinksInPath())
        }
        return total
    }

    private static func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}
