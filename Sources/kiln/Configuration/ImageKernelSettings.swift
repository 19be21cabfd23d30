import ArgumentParser
import Foundation
import KilnTensor

/// The `[image]` settings of the image models' kernels (`image_threads`, `winograd_tiles`,
/// `winograd4_tiles`, `pack_buffers_mb`), turned into the `KernelContext` the pipeline runs on.
extension ServeSettings {
    /// A kernel context of its own for the image pipeline: its pool and its packing buffers.
    func imageKernels() -> KernelContext {
        KernelContext(
            threads: imageThreads > 0 ? imageThreads : KernelContext.onlineCores,
            settings: KernelSettings(
                winogradMinimumTiles: winogradTiles, winograd4MinimumTiles: winograd4Tiles,
                packBufferMegabytes: packBuffersMb))
    }
}

extension ConfigCatalogue {
    static let imageKernelKeys = ["image.image_threads", "image.winograd_tiles", "image.winograd4_tiles", "image.pack_buffers_mb"]

    /// For the commands without a config file (`kiln image`, `kiln bench-image`): the image
    /// kernels' settings from their defaults and their `KILN_…` variables (`KILN_IMAGE_THREADS`,
    /// `KILN_WINOGRAD_TILES`, `KILN_WINOGRAD4_TILES`, `KILN_PACK_BUFFERS_MB`).
    static func imageKernelsFromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> KernelContext {
        // The file-less resolution of `kiln serve`, over these four variables only.
        let variables = Set(imageKernelKeys.map { setting($0).environmentVariable })
        let resolved: ServeSettings
        do {
            resolved = try resolve(configFile: nil, environment: environment.filter { variables.contains($0.key) }, flags: [])
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
        return resolved.imageKernels()
    }
}
