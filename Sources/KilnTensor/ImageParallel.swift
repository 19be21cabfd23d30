import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// How the image kernels fan work out to threads. A stand-in until the engine's persistent worker
/// pool lands: the image kernels are few and large (a convolution over a whole feature map), so the
/// cost of `concurrentPerform` per call is small next to the work of each call.
public enum ImageParallel {
    /// Threads the image kernels use; `KILN_IMAGE_THREADS` overrides the number of online cores.
    public static let width: Int = {
        if let text = getenv("KILN_IMAGE_THREADS").map({ String(cString: $0) }), let value = Int(text), value > 0 {
            return min(value, 256)
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// Runs `body(0..<count)`, spread over the pool; returns when every index has run.
    public static func run(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || width == 1 {
            for index in 0..<count { body(index) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
