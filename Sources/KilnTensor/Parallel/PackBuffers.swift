import Foundation

/// Packing buffers kept between products, so that a UNet step does not fault in fresh pages for
/// every weight it packs (a 50 MB packing is ~12 000 page faults). `take` hands out the smallest
/// idle buffer that fits, so a few large buffers serve the many sizes of a step; up to
/// `idleFloats` floats of buffers wait here, the smallest let go first. One per `KernelContext`.
public final class PackBuffers: @unchecked Sendable {
    /// Floats of idle buffers kept (`KernelSettings.packBufferMegabytes`; default 128 MB: at 512 px
    /// a UNet step ran as fast with 64 or 128 MB as with 256, and 0 made it 8% slower).
    public let idleFloats: Int

    public init(idleMegabytes: Int) {
        idleFloats = max(0, idleMegabytes) << 18
    }

    deinit {
        for buffer in idle { free(buffer.floats) }
    }

    /// A buffer and the floats it holds.
    public struct Buffer {
        public let floats: UnsafeMutablePointer<Float>
        let capacity: Int
    }

    private let lock = NSLock()
    private var idle: [Buffer] = []
    private var idleTotal = 0

    /// A buffer of at least `count` floats, 64-byte aligned, contents undefined.
    public func take(_ count: Int) -> Buffer {
        lock.lock()
        let best = idle.indices.filter { idle[$0].capacity >= count }.min { idle[$0].capacity < idle[$1].capacity }
        if let best {
            let found = idle.remove(at: best)
            idleTotal -= found.capacity
            lock.unlock()
            return found
        }
        lock.unlock()
        let capacity = (max(count, 1) + 16383) / 16384 * 16384
        var raw: UnsafeMutableRawPointer?
        precondition(posix_memalign(&raw, 64, capacity * MemoryLayout<Float>.stride) == 0, "PackBuffers: out of memory for \(capacity) floats")
        return Buffer(floats: raw!.bindMemory(to: Float.self, capacity: capacity), capacity: capacity)
    }

    /// Returns a buffer from `take`.
    public func give(_ buffer: Buffer) {
        lock.lock()
        idle.append(buffer)
        idleTotal += buffer.capacity
        var released: [Buffer] = []
        while idleTotal > idleFloats, let smallest = idle.indices.min(by: { idle[$0].capacity < idle[$1].capacity }) {
            let buffer = idle.remove(at: smallest)
            idleTotal -= buffer.capacity
            released.append(buffer)
        }
        lock.unlock()
        for buffer in released { free(buffer.floats) }
    }

    /// `body` with a buffer of at least `count` floats, returned afterwards.
    public func withBuffer<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let buffer = take(count)
        defer { give(buffer) }
        return body(buffer.floats)
    }
}
