import CKilnKernels
import Foundation

/// Weights packed into the product kernels' panel layout once per batch and shared by the threads
/// that run the batch's samples side by side.
///
/// A batched UNet call runs each sample on a thread of its own (`runSamples`), so every thread
/// meets the same weights in the same order, and each used to pack (and Winograd-transform) all
/// of them itself: at 512 px two threads spent ~8% of a step converting the same f16 weights.
/// In a team, the first member to reach a weight opens an entry whose build is cut into parts;
/// every member that arrives claims parts from a shared counter until none is left, then waits
/// for the parts others claimed and are building. Two members that arrive together build half
/// each; a late one finds the packing done. An entry's buffer goes back to `PackBuffers` once
/// every member has used it (or left the team).
///
/// Every member builds a key's packing the same way (the key names the weight's address and how
/// it is packed), so who builds which part never changes a result.
public final class PackingTeam: @unchecked Sendable {
    /// What a packing is of: the operand's address and, in `layout`, how it is packed.
    public struct Key: Hashable, Sendable {
        public let address: UInt
        public let layout: [Int]

        public init(_ address: UnsafeRawPointer, layout: [Int]) {
            self.address = UInt(bitPattern: address)
            self.layout = layout
        }
    }

    private final class Entry {
        let storage: PackBuffers.Buffer
        var buffer: UnsafeMutablePointer<Float> { storage.floats }
        let floats: Int
        /// [0]: the next part to claim; [1]: parts built. Touched only through kiln_atomic_*.
        let counters: UnsafeMutablePointer<Int>
        /// Members that have not used the packing yet (bit per member), and members using it now.
        var waiting: UInt64
        var using = 0

        private let buffers: PackBuffers

        init(floats: Int, waiting: UInt64, buffers: PackBuffers) {
            self.buffers = buffers
            storage = buffers.take(floats)
            self.floats = floats
            counters = .allocate(capacity: 2)
            counters.initialize(repeating: 0, count: 2)
            self.waiting = waiting
        }

        func free() {
            buffers.give(storage)
            counters.deallocate()
        }
    }

    /// The most members a team has (one bit each).
    public static let maximumMembers = 64

    /// Floats of packings a team keeps alive at once; past it, members pack privately. In
    /// lockstep a team holds one or two layers' packings; the bound matters only when one member
    /// runs far behind (or after another, when the pool was busy and ran them in turn).
    public static let floatBudget = 48 << 20

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var liveMembers: UInt64
    private var liveFloats = 0
    private let buffers: PackBuffers

    init(members: Int, buffers: PackBuffers) {
        precondition(members >= 1 && members <= Self.maximumMembers)
        self.buffers = buffers
        liveMembers = members == 64 ? ~0 : (1 << UInt64(members)) - 1
    }

    deinit {
        for entry in entries.values { entry.free() }
    }

    /// Runs `body(i)` for every i in 0..<count, in rounds of up to the context's width: each
    /// sample of a round on a thread of its own with its kernels kept there
    /// (`KernelContext.serially`), the round's samples sharing their weight packings.
    public static func runSamples(_ count: Int, context: KernelContext, _ body: (Int) -> Void) {
        let width = min(context.width, maximumMembers)
        if count < 2 || width < 2 || KernelContext.isSerial {
            for index in 0..<count { body(index) }  // a lone sample's kernels use the whole pool
            return
        }
        var start = 0
        while start < count {
            let size = min(width, count - start), first = start
            let team = PackingTeam(members: size, buffers: context.packBuffers)
            context.run(size) { member in
                let previous = (kiln_thread_packing_team(), kiln_thread_packing_member())
                kiln_set_thread_packing_team(Unmanaged.passUnretained(team).toOpaque(), Int32(member))
                defer {
                    kiln_set_thread_packing_team(previous.0, previous.1)
                    team.leave(member)
                }
                KernelContext.serially { body(first + member) }
            }
            start += size
        }
    }

    /// `use(packing)` on the packing `key` names, of `floats` floats, made by `build(packing, part)`
    /// for every part in 0..<parts. In a team the parts are shared out among the members that reach
    /// the key; otherwise they run on the context's pool (or in turn, on a serial thread).
    public static func withPacking<R>(
        _ key: Key, floats: Int, parts: Int, context: KernelContext,
        build: (UnsafeMutablePointer<Float>, Int) -> Void, use: (UnsafePointer<Float>) -> R
    ) -> R {
        if let raw = kiln_thread_packing_team() {
            let team = Unmanaged<PackingTeam>.fromOpaque(raw).takeUnretainedValue()
            return team.withPacking(
                key, member: Int(kiln_thread_packing_member()), floats: floats, parts: parts,
                build: build, use: use)
        }
        return context.packBuffers.withBuffer(floats) { buffer in
            context.run(parts) { build(buffer, $0) }
            return use(buffer)
        }
    }

    private func withPacking<R>(
        _ key: Key, member: Int, floats: Int, parts: Int,
        build: (UnsafeMutablePointer<Float>, Int) -> Void, use: (UnsafePointer<Float>) -> R
    ) -> R {
        lock.lock()
        var found = entries[key]
        if found == nil, liveFloats + floats <= Self.floatBudget {
            let entry = Entry(floats: floats, waiting: liveMembers, buffers: buffers)
            entries[key] = entry
            liveFloats += floats
            found = entry
        }
        found?.using += 1
        lock.unlock()
        guard let entry = found else {
            return buffers.withBuffer(floats) { buffer in
                for part in 0..<parts { build(buffer, part) }
                return use(buffer)
            }
        }
        while true {
            let part = kiln_atomic_fetch_add(entry.counters, 1)
            if part >= parts { break }
            build(entry.buffer, part)
            kiln_atomic_fetch_add(entry.counters + 1, 1)
        }
        // The parts still missing are being built by members that claimed them; they finish
        // without waiting on anything, so this wait ends.
        var spins = 0
        while kiln_atomic_load(entry.counters + 1) < parts {
            spins += 1
            if spins < 4096 { kiln_spin_pause() } else { sched_yield() }
        }
        let result = use(entry.buffer)
        lock.lock()
        entry.using -= 1
        entry.waiting &= ~(1 << UInt64(member))
        retireIfDone(key, entry)
        lock.unlock()
        return result
    }

    /// A member that has finished (or failed) uses nothing more: nothing waits for it.
    private func leave(_ member: Int) {
        lock.lock()
        liveMembers &= ~(1 << UInt64(member))
        for (key, entry) in entries {
            entry.waiting &= ~(1 << UInt64(member))
            retireIfDone(key, entry)
        }
        lock.unlock()
    }

    /// Called with the lock held.
    private func retireIfDone(_ key: Key, _ entry: Entry) {
        guard entry.waiting == 0, entry.using == 0, entries[key] === entry else { return }
        entries[key] = nil
        liveFloats -= entry.floats
        entry.free()
    }
}
