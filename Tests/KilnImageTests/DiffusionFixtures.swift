import Foundation
import KilnFormats
import KilnTensor

/// The committed diffusers reference data (Tests/Fixtures/diffusion, made by
/// Scripts/fixtures/make-diffusion-fixtures.py; see its PROVENANCE.md).
enum DiffusionFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/diffusion")
    static var pipelineDirectory: String { directory.appendingPathComponent("tiny-sd").path }

    /// The kernel context the models built directly by tests run on (a pool of one thread per
    /// core, default settings: what `ImagePipeline` builds by default).
    static let kernels = KernelContext()

    static let reference: SafetensorsFile = try! SafetensorsFile(path: directory.appendingPathComponent("reference.safetensors").path)
    static let samplers: SafetensorsFile = try! SafetensorsFile(path: directory.appendingPathComponent("samplers.safetensors").path)

    static func json(_ name: String) -> Any {
        let data = try! Data(contentsOf: directory.appendingPathComponent(name))
        return try! JSONSerialization.jsonObject(with: data)
    }

    static var meta: [String: Any] { json("reference.json") as! [String: Any] }

    /// A stored F32 tensor's values and shape.
    static func tensor(_ name: String, in file: SafetensorsFile = reference) -> (values: [Float], shape: [Int]) {
        guard let info = file.tensor(named: name) else { fatalError("fixture tensor \(name) is missing") }
        precondition(info.dtype == .f32)
        let bytes = file.data(of: info)
        let values = (0..<info.elementCount).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        return (values, info.shape)
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "compared arrays differ in size: \(a.count) vs \(b.count)")
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    static func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }
}

/// A reference fixture of a Kiln-trained model family (Tests/Fixtures/<name>, written by its
/// Scripts/<family>/make-*-fixtures.py): reference.safetensors, and reference.json with the
/// captions and the seeds (as strings: a JSON number cannot hold every UInt64).
struct ReferenceFixture {
    let directory: URL
    let reference: SafetensorsFile
    let meta: [String: Any]

    init(_ name: String) {
        directory = DiffusionFixtures.directory.deletingLastPathComponent().appendingPathComponent(name)
        reference = try! SafetensorsFile(path: directory.appendingPathComponent("reference.safetensors").path)
        meta = try! Self.json(directory.appendingPathComponent("reference.json"))
    }

    /// A JSON object file, such as a fixture's reference.json or trained-reference.json.
    static func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// The JSON object in the fixture's file `name`.
    func json(_ name: String) throws -> [String: Any] { try Self.json(directory.appendingPathComponent(name)) }

    var captions: [String] { meta["captions"] as! [String] }
    var seeds: [UInt64] { (meta["seeds"] as! [String]).map { UInt64($0)! } }

    /// The path of `name` in the fixture's folder.
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The tensor `name`'s values cut into `count` equal rows along its leading axes (by default,
    /// its first axis).
    func rows(_ name: String, count: Int? = nil) -> [[Float]] {
        let (values, shape) = DiffusionFixtures.tensor(name, in: reference)
        let count = count ?? shape[0], width = values.count / count
        return (0..<count).map { Array(values[$0 * width..<($0 + 1) * width]) }
    }
}
