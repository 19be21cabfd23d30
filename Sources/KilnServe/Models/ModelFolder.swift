import Foundation

/// The model files of a folder (`kiln serve --models-dir`) as one scan saw them, and what changed
/// between two scans: the files an explicit reload adds, removes or loads again.
///
/// A file is its name, its id the name without `.gguf`; hidden files, files of another extension
/// and anything that is not a regular file once symbolic links are followed (a folder, a dangling
/// link) are left out. A file counts as changed when what `stat` says of it (following links)
/// differs: size, modification time, inode or device, so that a file replaced by a rename, a
/// link pointed elsewhere or a file rewritten in place are all seen.
public struct ModelFolder: Sendable, Equatable {
    /// What identifies one version of a file.
    public struct FileVersion: Sendable, Equatable {
        public let path: String
        public let size: Int
        public let modifiedNanoseconds: Int64
        public let inode: UInt64
        public let device: UInt64

        public init(path: String, size: Int, modifiedNanoseconds: Int64, inode: UInt64, device: UInt64) {
            self.path = path
            self.size = size
            self.modifiedNanoseconds = modifiedNanoseconds
            self.inode = inode
            self.device = device
        }
    }

    /// What changed between two scans, each list sorted by id.
    public struct Changes: Sendable, Equatable {
        public var added: [String] = []
        public var removed: [String] = []
        public var changed: [String] = []

        public init(added: [String] = [], removed: [String] = [], changed: [String] = []) {
            self.added = added
            self.removed = removed
            self.changed = changed
        }

        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    }

    /// The extension of the files a folder serves.
    public static let fileExtension = ".gguf"

    /// The files by id.
    public let files: [String: FileVersion]

    public init(files: [String: FileVersion]) { self.files = files }

    /// The ids, sorted (the order models of a folder are listed in).
    public var ids: [String] { files.keys.sorted() }

    /// Reads the folder (not its subfolders).
    /// - Throws: when the folder itself cannot be read.
    public static func scan(_ directory: String) throws -> ModelFolder {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        var files: [String: FileVersion] = [:]
        for name in names where name.hasSuffix(fileExtension) && !name.hasPrefix(".") && name.count > fileExtension.count {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
            guard let version = version(of: path) else { continue }
            files[String(name.dropLast(fileExtension.count))] = version
        }
        return ModelFolder(files: files)
    }

    /// What `stat` says of a regular file at `path`, links followed; nil for anything else.
    public static func version(of path: String) -> FileVersion? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileVersion(
            path: path, size: Int(info.st_size),
            modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
    }

    /// What this scan has that `previous` had not, what it lost, and what differs.
    public func changes(since previous: ModelFolder) -> Changes {
        var changes = Changes()
        for id in ids {
            if let before = previous.files[id] {
                if before != files[id] { changes.changed.append(id) }
            } else {
                changes.added.append(id)
            }
        }
        changes.removed = previous.ids.filter { files[$0] == nil }
        return changes
    }
}
