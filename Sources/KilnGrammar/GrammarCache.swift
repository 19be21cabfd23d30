import Foundation

/// Compiled grammars by source, least recently used first out, within a byte bound (each grammar
/// counted by `Grammar.memoryBytes` plus its key). Thread-safe: requests compile through it from
/// any thread; two threads missing on one key at once both compile, and the later insert wins.
public final class GrammarCache: Sendable {
    public let maxBytes: Int
    private let lock = NSLock()
    nonisolated(unsafe) private var entries: [String: (grammar: Grammar, bytes: Int, lastUse: UInt64)] = [:]
    nonisolated(unsafe) private var clock: UInt64 = 0
    nonisolated(unsafe) private var totalBytes = 0
    nonisolated(unsafe) private var hitCount = 0
    nonisolated(unsafe) private var missCount = 0

    public init(maxBytes: Int = 64 << 20) { self.maxBytes = maxBytes }

    /// The compiled grammar for `source`, compiled by `compiler` on a miss.
    public func grammar(for source: GrammarSource, compiler: GrammarCompiler) throws(GrammarError) -> Grammar {
        // The key holds the whole source and the limits: a hash alone could collide.
        let key = "\(compiler.limits.hashValue):\(compiler.rejectUnknownKeywords):" + source.cacheKey
        lock.lock()
        if var entry = entries[key] {
            clock += 1
            entry.lastUse = clock
            entries[key] = entry
            hitCount += 1
            lock.unlock()
            return entry.grammar
        }
        missCount += 1
        lock.unlock()
        let grammar = try compiler.compile(source)
        let bytes = grammar.memoryBytes + key.utf8.count
        lock.lock()
        defer { lock.unlock() }
        guard bytes <= maxBytes else { return grammar }
        clock += 1
        if let previous = entries[key] { totalBytes -= previous.bytes }
        entries[key] = (grammar, bytes, clock)
        totalBytes += bytes
        while totalBytes > maxBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            totalBytes -= oldest.value.bytes
            entries.removeValue(forKey: oldest.key)
        }
        return grammar
    }

    /// Entries, bytes held, hits and misses so far.
    public var statistics: (entries: Int, bytes: Int, hits: Int, misses: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (entries.count, totalBytes, hitCount, missCount)
    }
}
