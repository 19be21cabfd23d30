#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small mutual-exclusion lock over `pthread_mutex_t`, for the few values that several threads
/// share (connection counts, cancellation handlers, responder state).
///
/// A value with reference semantics: copies share one mutex. The mutex lives in the tail of a
/// single heap object (a `ManagedBuffer`), so its address never moves, as pthreads requires, and
/// making a lock costs one allocation; the server makes one per request.
public struct Lock: @unchecked Sendable {
    @usableFromInline let storage: MutexStorage

    public init() {
        storage = MutexStorage.make()
    }

    /// Runs `body` while holding the lock.
    @inlinable
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    @usableFromInline func lock() { storage.withUnsafeMutablePointerToElements { _ = pthread_mutex_lock($0) } }
    @usableFromInline func unlock() { storage.withUnsafeMutablePointerToElements { _ = pthread_mutex_unlock($0) } }
}

/// One `pthread_mutex_t` in the tail of a heap object.
@usableFromInline
final class MutexStorage: ManagedBuffer<Void, pthread_mutex_t> {
    static func make() -> MutexStorage {
        let buffer = create(minimumCapacity: 1) { _ in () }
        buffer.withUnsafeMutablePointerToElements { mutex in
            mutex.initialize(to: pthread_mutex_t())
            pthread_mutex_init(mutex, nil)
        }
        // `create` returns the dynamic type it was called on.
        return unsafeDowncast(buffer, to: MutexStorage.self)
    }

    deinit {
        withUnsafeMutablePointerToElements { mutex in
            pthread_mutex_destroy(mutex)
            mutex.deinitialize(count: 1)
        }
    }
}
