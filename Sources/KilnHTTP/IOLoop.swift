import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One serial Dispatch queue and the connections it runs.
///
/// All state of a connection is touched only on its loop's queue, so connections need no locks;
/// other threads reach a connection by enqueueing onto this queue. A single repeating timer per
/// loop checks every connection's deadlines, which costs nothing per request (a timestamp store)
/// where per-connection timers would cost a reschedule on every read.
final class IOLoop: @unchecked Sendable {
    private static let identityKey = DispatchSpecificKey<Int>()
    private static let identityLock = Lock()
    nonisolated(unsafe) private static var nextIdentity = 1

    let queue: DispatchQueue
    let identity: Int
    /// Live connections by id; queue-confined.
    var connections: [Int: HTTPConnection] = [:]
    /// Set once the server drains: connections close when idle and stop keeping alive.
    var isDraining = false
    /// Scratch space every read on this loop lands in; queue-confined.
    let readBuffer: UnsafeMutableRawBufferPointer
    private var sweepTimer: DispatchSourceTimer?
    private var cachedDateSecond: Int = -1
    private var cachedDate: [UInt8] = []

    init(label: String, readBufferSize: Int = 64 * 1024) {
        queue = DispatchQueue(label: label)
        identity = Self.identityLock.withLock {
            defer { Self.nextIdentity += 1 }
            return Self.nextIdentity
        }
        queue.setSpecific(key: Self.identityKey, value: identity)
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
    }

    deinit {
        sweepTimer?.cancel()
        readBuffer.deallocate()
    }

    /// Whether the calling code runs on this loop's queue.
    var isCurrent: Bool { DispatchQueue.getSpecific(key: Self.identityKey) == identity }

    /// Runs `work` on this loop: at once when already on it, otherwise enqueued.
    func execute(_ work: @escaping @Sendable () -> Void) {
        if isCurrent { work() } else { queue.async(execute: work) }
    }

    func startSweeping(every interval: Double) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let nanoseconds = Int(max(interval, 0.01) * 1e9)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                       leeway: .nanoseconds(nanoseconds / 10))
        timer.setEventHandler { [unowned self] in
            let now = DispatchTime.now().uptimeNanoseconds
            for connection in Array(connections.values) { connection.checkDeadlines(now: now) }
        }
        timer.resume()
        sweepTimer = timer
    }

    func stopSweeping() {
        sweepTimer?.cancel()
        sweepTimer = nil
    }

    /// `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`, formatted at most once a second.
    func dateHeaderLine() -> [UInt8] {
        var now = time(nil)
        if Int(now) == cachedDateSecond { return cachedDate }
        var parts = tm()
        gmtime_r(&now, &parts)
        var text = [CChar](repeating: 0, count: 64)
        let length = strftime(&text, text.count, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &parts)
        cachedDate = text[0..<length].map { UInt8(bitPattern: $0) }
        cachedDateSecond = Int(now)
        return cachedDate
    }
}
