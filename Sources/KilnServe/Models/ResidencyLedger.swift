/// Which of the configured models are in memory, what each costs, and what to load or unload
/// next: the bookkeeping behind ``ModelResidency``, a value with no threads and no engine, so
/// that its decisions are tested alone.
///
/// A model is resident from the moment its load begins until its unload ends: its cost counts
/// against the budget for as long as any of its memory may be mapped. Only a model that is
/// loaded, leased by nobody and idle (no job in flight, as the caller judges) may be evicted, the
/// least recently used first.
///
/// Models that never unload (the image and embedding models beside the language models) are
/// `pinned`: their bytes count against the same budget for as long as the server runs, so the
/// language models share what they leave.
public struct ResidencyLedger: Sendable {
    /// A model that stays loaded whatever the budget says, whose bytes count against it.
    public struct PinnedModel: Sendable, Equatable {
        public let id: String
        public let costBytes: Int

        public init(id: String, costBytes: Int) {
            self.id = id
            self.costBytes = max(0, costBytes)
        }
    }

    /// Where a model stands.
    public enum Phase: Sendable, Equatable {
        case unloaded, loading, loaded, unloading
    }

    /// One configured model.
    public struct Entry: Sendable, Equatable {
        public let id: String
        /// Bytes the model takes while resident (weights and KV cache, as the caller estimates).
        public internal(set) var costBytes: Int
        public internal(set) var phase: Phase = .unloaded
        /// The use counter's value at its latest lease (0: never leased).
        public internal(set) var lastUsed: UInt64 = 0
        /// Requests holding the model resident right now.
        public internal(set) var leases = 0
        /// Gone from the configuration (its file removed on a reload): listed no more, leased to
        /// no new request, unloaded once idle and then forgotten.
        public internal(set) var retired = false
        /// Its file changed on a reload: the cost of the new file, which the model takes once it
        /// has been unloaded (once idle) and loaded again. Nil: the loaded model is current.
        public internal(set) var replacementCostBytes: Int?

        /// Loaded, but retired or out of date: to unload as soon as it is idle.
        public var isStale: Bool { phase == .loaded && (retired || replacementCostBytes != nil) }
    }

    /// What to do for a request for one model.
    public enum Decision: Sendable, Equatable {
        /// Loaded: lease it.
        case ready
        /// Loading or unloading, or no room can be made yet (every other model is busy): wait.
        case wait
        /// Unload these models (least recently used first), then load the requested one.
        case load(evicting: [String])
    }

    /// Most bytes resident at once, pinned models included (0: no limit, every model may stay loaded).
    public let budgetBytes: Int
    /// The models always resident beside the language models.
    public let pinned: [PinnedModel]
    /// Bytes of the pinned models.
    public var pinnedBytes: Int { pinned.reduce(0) { $0 + $1.costBytes } }
    /// The models, in configuration order.
    public private(set) var entries: [Entry]
    private var useCounter: UInt64 = 0

    /// - Throws: `.duplicateModel` for an id given twice, `.exceedsBudget` for a model that
    ///   could never fit beside the pinned ones, `.pinnedExceedBudget` when the pinned models alone
    ///   take the whole budget, `.invalidBudget` for a negative budget.
    public init(models: [(id: String, costBytes: Int)], budgetBytes: Int, pinned: [PinnedModel] = []) throws(ResidencyError) {
        guard budgetBytes >= 0 else { throw .invalidBudget(budgetBytes) }
        self.budgetBytes = budgetBytes
        self.pinned = pinned
        entries = []
        if budgetBytes > 0, pinnedBytes >= budgetBytes {
            throw .pinnedExceedBudget(pinnedBytes: pinnedBytes, budgetBytes: budgetBytes)
        }
        var seen = Set(pinned.map(\.id))
        for model in models {
            guard seen.insert(model.id).inserted else { throw .duplicateModel(model.id) }
            try checkFits(model.id, costBytes: model.costBytes)
        }
        entries = models.map { Entry(id: $0.id, costBytes: max(0, $0.costBytes)) }
    }

    /// Throws `.exceedsBudget` when a model of `costBytes` could never fit beside the pinned ones.
    private func checkFits(_ id: String, costBytes: Int) throws(ResidencyError) {
        if budgetBytes > 0, costBytes > budgetBytes - pinnedBytes {
            throw .exceedsBudget(model: id, costBytes: costBytes, budgetBytes: budgetBytes - pinnedBytes)
        }
    }

    /// The configured ids, in order (retired models, still draining, are not among them).
    public var modelIDs: [String] { entries.filter { !$0.retired }.map(\.id) }

    /// Bytes of every model not unloaded (loading, loaded or unloading), the pinned ones included.
    public var residentBytes: Int {
        entries.reduce(pinnedBytes) { $0 + ($1.phase == .unloaded ? 0 : $1.costBytes) }
    }

    public func entry(_ id: String) -> Entry? {
        entries.first { $0.id == id }
    }

    /// Whether `id` is configured (not retired): whether a request may name it.
    public func isListed(_ id: String) -> Bool {
        entry(id).map { !$0.retired } ?? false
    }

    /// Whether `id` can be loaded now without evicting anything.
    public func fitsWithoutEviction(_ id: String) -> Bool {
        guard let entry = entry(id) else { return false }
        return budgetBytes == 0 || residentBytes + entry.costBytes <= budgetBytes
    }

    /// What a request for `id` needs. `isIdle` tells whether a loaded model has no job in flight.
    public func decide(for id: String, isIdle: (String) -> Bool) -> Decision {
        guard let entry = entry(id) else { return .wait }
        switch entry.phase {
        case .loaded: return .ready
        case .loading, .unloading: return .wait
        case .unloaded: break
        }
        if fitsWithoutEviction(id) { return .load(evicting: []) }
        let candidates = entries.filter { $0.phase == .loaded && $0.leases == 0 && isIdle($0.id) }
            .sorted { $0.lastUsed < $1.lastUsed }
        var resident = residentBytes
        var evicting: [String] = []
        for candidate in candidates where resident + entry.costBytes > budgetBytes {
            resident -= candidate.costBytes
            evicting.append(candidate.id)
        }
        return resident + entry.costBytes <= budgetBytes ? .load(evicting: evicting) : .wait
    }

    /// The loaded models that must go to make room for `id`, least recently used first, whether
    /// idle or not: while a request waits for them, they take no new work, so that they drain
    /// and a busy model cannot keep another out for ever. Empty when `id` fits already or is
    /// not unloaded.
    public func modelsToDrain(for id: String) -> [String] {
        guard let entry = entry(id), entry.phase == .unloaded, !fitsWithoutEviction(id) else { return [] }
        var resident = residentBytes
        var draining: [String] = []
        for candidate in entries.filter({ $0.phase == .loaded }).sorted(by: { $0.lastUsed < $1.lastUsed })
        where resident + entry.costBytes > budgetBytes {
            resident -= candidate.costBytes
            draining.append(candidate.id)
        }
        return draining
    }

    /// Loaded models that are retired or out of date, leased by nobody and idle: to unload now.
    public func staleIdleModels(isIdle: (String) -> Bool) -> [String] {
        entries.filter { $0.isStale && $0.leases == 0 && isIdle($0.id) }.map(\.id)
    }

    /// Whether some loaded model waits to become idle to be unloaded (retired or out of date).
    public var hasStaleModels: Bool { entries.contains { $0.isStale } }

    // MARK: - Reconfiguration (an explicit reload)

    /// Adds a model, unloaded, at the end. An id that is retired but still resident comes back
    /// as changed (its new file loads once the old one is unloaded); a listed id is `change`d.
    /// - Throws: `.exceedsBudget` for a model that could never fit.
    public mutating func add(_ id: String, costBytes: Int) throws(ResidencyError) {
        guard !pinned.contains(where: { $0.id == id }) else { throw .duplicateModel(id) }
        try checkFits(id, costBytes: costBytes)
        guard let index = entries.firstIndex(where: { $0.id == id }) else {
            entries.append(Entry(id: id, costBytes: max(0, costBytes)))
            return
        }
        entries[index].retired = false
        try change(id, costBytes: costBytes)
    }

    /// Removes a model from the configuration: forgotten at once when unloaded, otherwise
    /// retired (unlisted, unloaded once idle, then forgotten by `finishUnload`).
    public mutating func retire(_ id: String) {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
        if entries[index].phase == .unloaded {
            entries.remove(at: index)
        } else {
            entries[index].retired = true
        }
    }

    /// The model's file changed: an unloaded model takes the new cost at once; a resident one
    /// keeps serving (and counting its old cost) until it is unloaded once idle.
    /// - Throws: `.exceedsBudget` for a new file that could never fit.
    public mutating func change(_ id: String, costBytes: Int) throws(ResidencyError) {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
        try checkFits(id, costBytes: costBytes)
        if entries[index].phase == .unloaded {
            entries[index].costBytes = max(0, costBytes)
            entries[index].replacementCostBytes = nil
        } else {
            entries[index].replacementCostBytes = max(0, costBytes)
        }
    }

    // MARK: - Transitions

    public mutating func beginLoad(_ id: String) { update(id, from: [.unloaded]) { $0.phase = .loading } }

    /// The load ended: loaded, or back to unloaded when it failed.
    public mutating func finishLoad(_ id: String, succeeded: Bool) {
        update(id, from: [.loading]) { $0.phase = succeeded ? .loaded : .unloaded }
    }

    public mutating func beginUnload(_ id: String) {
        update(id, from: [.loaded]) { entry in
            precondition(entry.leases == 0, "model \(id) is unloaded while leased")
            entry.phase = .unloading
        }
    }

    /// The unload ended: a retired model is forgotten, a changed one takes its new file's cost.
    public mutating func finishUnload(_ id: String) {
        update(id, from: [.unloading]) { entry in
            entry.phase = .unloaded
            if let replacement = entry.replacementCostBytes {
                entry.costBytes = replacement
                entry.replacementCostBytes = nil
            }
        }
        entries.removeAll { $0.id == id && $0.retired }
    }

    /// A request holds the loaded model `id`; it becomes the most recently used.
    public mutating func lease(_ id: String) {
        useCounter += 1
        let stamp = useCounter
        update(id, from: [.loaded]) { entry in
            entry.leases += 1
            entry.lastUsed = stamp
        }
    }

    public mutating func release(_ id: String) {
        update(id, from: [.loaded]) { entry in
            precondition(entry.leases > 0, "model \(id) released more often than leased")
            entry.leases -= 1
        }
    }

    private mutating func update(_ id: String, from phases: [Phase], _ change: (inout Entry) -> Void) {
        guard let index = entries.firstIndex(where: { $0.id == id }) else {
            preconditionFailure("unknown model \(id)")
        }
        precondition(phases.contains(entries[index].phase), "model \(id) is \(entries[index].phase), expected one of \(phases)")
        change(&entries[index])
    }
}

/// Why a model cannot be had.
public enum ResidencyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No configured model has this id (HTTP 404 naming the available ones).
    case unknownModel(String, available: [String])
    /// The model did not become resident within the request's deadline (HTTP 503, retry).
    case timedOut(model: String)
    /// Loading the model failed (HTTP 500: the file or the machine is at fault).
    case loadFailed(model: String, reason: String)
    /// The server is stopping (HTTP 503).
    case shuttingDown
    /// Configuration errors, found at start.
    case duplicateModel(String)
    /// A language model needs more than the budget leaves it (`budgetBytes`: the budget less the
    /// pinned models).
    case exceedsBudget(model: String, costBytes: Int, budgetBytes: Int)
    /// The image and embedding models alone take the whole budget.
    case pinnedExceedBudget(pinnedBytes: Int, budgetBytes: Int)
    case invalidBudget(Int)

    public var description: String {
        switch self {
        case let .unknownModel(id, available):
            return "the model '\(id)' does not exist; available: \(available.joined(separator: ", "))"
        case let .timedOut(model):
            return "the model '\(model)' did not load within the request's deadline"
        case let .loadFailed(model, reason):
            return "the model '\(model)' failed to load: \(reason)"
        case .shuttingDown:
            return "the server is shutting down"
        case let .duplicateModel(id):
            return "two models have the id '\(id)'"
        case let .exceedsBudget(model, cost, budget):
            return "the model '\(model)' needs \(cost >> 20) MiB, more than the memory budget leaves the language models (\(budget >> 20) MiB)"
        case let .pinnedExceedBudget(pinned, budget):
            return "the image and embedding models take \(pinned >> 20) MiB, the whole memory budget of \(budget >> 20) MiB or more"
        case let .invalidBudget(budget):
            return "the memory budget must not be negative (got \(budget))"
        }
    }
}
