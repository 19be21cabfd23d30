import Foundation
import KilnHTTP

/// Whether the server can take work: what `/ready` answers.
///
/// Starts `loading`; the command line sets `ready` once the models are loaded and `draining`
/// when shutdown begins. Load balancers stop sending work on 503.
// @unchecked Sendable: `current` is read and written under `lock`.
public final class OpsReadiness: @unchecked Sendable {
    public enum State: String, Sendable {
        case loading
        case ready
        case draining
    }

    private let lock = NSLock()
    private var current: State

    public init(_ state: State = .loading) {
        current = state
    }

    public var state: State {
        get { lock.withLock { current } }
        set { lock.withLock { current = newValue } }
    }
}
