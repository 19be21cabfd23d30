import KilnTensor

/// What one forward pass of a model works with: the `KernelContext` its kernels run on (the
/// model's, handed to it by whoever built it) and a growable scratch buffer reused across layers,
/// so that the im2col patches and attention scores of every layer share one allocation. Not
/// thread-safe: one per call, used by one caller at a time.
public final class Workspace: @unchecked Sendable {
    public let kernels: KernelContext
    private var storage: UnsafeMutablePointer<Float>
    private var capacity: Int

    public init(kernels: KernelContext, capacity: Int = 1 << 16) {
        self.kernels = kernels
        self.capacity = capacity
        storage = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    /// At least `count` floats; the contents are undefined.
    public func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            storage.deallocate()
            capacity = max(count, capacity * 2)
            storage = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        }
        return storage
    }
}
