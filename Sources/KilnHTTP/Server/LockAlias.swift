import Foundation

/// KilnHTTP's former lock, now Foundation's `NSLock` (its `withLock` is the project's one).
///
/// Kept only so that modules still spelling `Lock()` from KilnHTTP build; new code uses `NSLock`.
/// Measured on the request path (callgrind, instructions per `/health` request through
/// KilnHTTP): 16 579 with `NSLock`, 16 647 with the former `pthread_mutex_t` lock.
@available(*, deprecated, renamed: "NSLock", message: "use Foundation's NSLock")
public typealias Lock = NSLock
