import Foundation
import KilnServe
import Testing

@Suite("A models folder's files and what changed between two scans")
struct ModelFolderTests {
    /// A fresh folder under the temporary directory, removed by `body`'s end.
    private func withFolder(_ body: (String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-model-folder-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    private func write(_ folder: String, _ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder).appendingPathComponent(name))
    }

    private func path(_ folder: String, _ name: String) -> String {
        URL(fileURLWithPath: folder).appendingPathComponent(name).path
    }

    @Test func onlyRegularGGUFFilesCountAndLinksAreFollowed() throws {
        try withFolder { folder in
            try write(folder, "b.gguf", "b")
            try write(folder, "a.gguf", "aa")
            try write(folder, ".hidden.gguf", "h")
            try write(folder, "notes.txt", "t")
            try write(folder, ".gguf", "no name")
            try FileManager.default.createDirectory(atPath: path(folder, "dir.gguf"), withIntermediateDirectories: false)
            try FileManager.default.createSymbolicLink(atPath: path(folder, "link.gguf"), withDestinationPath: path(folder, "a.gguf"))
            try FileManager.default.createSymbolicLink(atPath: path(folder, "dangling.gguf"), withDestinationPath: path(folder, "gone.gguf"))
            let scan = try ModelFolder.scan(folder)
            #expect(scan.ids == ["a", "b", "link"])
            // The link reads as its target (its size and inode), under its own name.
            #expect(scan.files["link"]?.size == 2)
            #expect(scan.files["link"]?.inode == scan.files["a"]?.inode)
            #expect(scan.files["link"]?.path == path(folder, "link.gguf"))
        }
    }

    @Test func addedRemovedAndChangedFilesAreFound() throws {
        try withFolder { folder in
            try write(folder, "keep.gguf", "same")
            try write(folder, "gone.gguf", "x")
            try write(folder, "grows.gguf", "x")
            try write(folder, "renamed-over.gguf", "old")
            try write(folder, "other.gguf", "target")
            try FileManager.default.createSymbolicLink(atPath: path(folder, "repointed.gguf"), withDestinationPath: path(folder, "keep.gguf"))
            let before = try ModelFolder.scan(folder)
            #expect(before.changes(since: before).isEmpty)

            try FileManager.default.removeItem(atPath: path(folder, "gone.gguf"))
            try write(folder, "new.gguf", "n")
            try write(folder, "grows.gguf", "xx")
            // Replaced by a rename (a new inode), as an operator swaps a file in.
            try write(folder, ".incoming", "new")
            #expect(rename(path(folder, ".incoming"), path(folder, "renamed-over.gguf")) == 0)
            try FileManager.default.removeItem(atPath: path(folder, "repointed.gguf"))
            try FileManager.default.createSymbolicLink(atPath: path(folder, "repointed.gguf"), withDestinationPath: path(folder, "other.gguf"))
            let after = try ModelFolder.scan(folder)
            let changes = after.changes(since: before)
            #expect(changes.added == ["new"])
            #expect(changes.removed == ["gone"])
            #expect(changes.changed == ["grows", "renamed-over", "repointed"])
            // And back: the opposite changes.
            let back = before.changes(since: after)
            #expect(back.added == ["gone"])
            #expect(back.removed == ["new"])
        }
    }

    @Test func aFileRewrittenInPlaceWithTheSameSizeChangesByItsTime() throws {
        let before = ModelFolder(files: [
            "m": ModelFolder.FileVersion(path: "/x/m.gguf", size: 10, modifiedNanoseconds: 1_000, inode: 7, device: 1)
        ])
        let after = ModelFolder(files: [
            "m": ModelFolder.FileVersion(path: "/x/m.gguf", size: 10, modifiedNanoseconds: 2_000, inode: 7, device: 1)
        ])
        #expect(after.changes(since: before) == ModelFolder.Changes(changed: ["m"]))
    }

    @Test func anUnreadableFolderThrows() {
        #expect(throws: (any Error).self) { try ModelFolder.scan("/nonexistent/kiln-models-\(UUID().uuidString)") }
    }
}
