/// The matcher's state machine: a pushdown automaton over bytes whose configurations (sets of
/// stacks) are built lazily into a deterministic automaton.
///
/// A stack is a chain of nodes, each a program position and a parent node; nodes are hash-consed,
/// so equal stacks are one node and a set of stacks is a sorted list of top nodes. A top always sits
/// on a byte-set element. What a top becomes after one byte does not depend on which byte of its set
/// it was (the closure of the next position), so it is computed once per top ("successors"); a
/// configuration's transition on a byte is the union of its matching tops' successors, computed on
/// first use and kept. A mask walk over the vocabulary trie is then one table lookup per trie node
/// once the configurations it meets are known, and consecutive steps of one sequence reuse them.
///
/// Everything lives in growable arrays that are reused; when they pass their bound the automaton
/// is rebuilt around the current configuration (`compact`), between tokens, never inside a walk.
final class StackSetAutomaton {
    static let dead: Int32 = 0
    static let unknown: Int32 = -1

    let grammar: Grammar
    let maxStacks: Int
    let maxConfigurations: Int

    // Hash-consed stack nodes.
    private(set) var nodePosition: [Int32] = []
    private(set) var nodeParent: [Int32] = []
    private var nodeTable: [Int32] = []  // open addressing, node id + 1, 0 empty
    // Successors of top nodes (closure of position + 1), cached per node.
    private var successorStart: [Int32] = []  // -1: not computed
    private var successorCount: [Int32] = []
    private var successorCanEnd: [Bool] = []
    private var successorPool: [Int32] = []
    // Configurations: sorted top lists, whether the grammar may end there, a looping byte set.
    private var configurationStart: [Int32] = []
    private var configurationCount: [Int32] = []
    private(set) var configurationCanEnd: [Bool] = []
    private(set) var configurationLoopSet: [Int32] = []
    /// The matcher's pure-subtree table for each configuration: −2 not yet known, −1 none.
    var configurationPureTable = RawColumn<Int32>()
    /// For each configuration, how many more characters of JSON string text it takes before text
    /// must stop (a `maxLength` string): −2 not yet known, −1 not such a configuration.
    var configurationTextBudget = RawColumn<Int32>()
    private var configurationPool: [Int32] = []
    private var configurationTable: [Int32] = []
    /// `transitions[c * 256 + byte]`: the next configuration, or `unknown`.
    private(set) var transitions = RawColumn<Int32>(capacity: 256 * 64)
    /// Set when a step would have exceeded `maxStacks` (the step then fails).
    private(set) var overflowed = false

    // Scratch, reused.
    private var mark: [UInt32] = []
    private var markGeneration: UInt32 = 0
    private var scratch: [Int32] = []
    private var closureTops: [Int32] = []
    private var work: [(Int32, Int32)] = []
    private var visited: [Int64] = []
    private var visitedStamp: [UInt32] = []
    private var visitGeneration: UInt32 = 0

    init(grammar: Grammar, maxStacks: Int, maxConfigurations: Int) {
        self.grammar = grammar
        self.maxStacks = maxStacks
        self.maxConfigurations = maxConfigurations
        reset()
    }

    deinit {
        transitions.deallocate()
        configurationPureTable.deallocate()
        configurationTextBudget.deallocate()
    }

    /// Bytes held by the automaton's tables (their capacity).
    var memoryBytes: Int {
        transitions.memoryBytes + configurationPureTable.memoryBytes + configurationTextBudget.memoryBytes
            + 4
            * (nodePosition.capacity + nodeParent.capacity + nodeTable.capacity + successorStart.capacity + successorCount.capacity
                + successorPool.capacity + configurationStart.capacity + configurationCount.capacity + configurationLoopSet.capacity
                + configurationPool.capacity + configurationTable.capacity + mark.capacity)
    }

    /// Forgets everything; returns the start configuration.
    @discardableResult
    func reset() -> Int32 {
        clearTables()
        let start = grammar.alternativeOffsets[grammar.rootRule]..<grammar.alternativeOffsets[grammar.rootRule + 1]
        return buildConfiguration { automaton in
            var canEnd = false
            for alternative in start {
                automaton.closureTops.removeAll(keepingCapacity: true)
                canEnd = automaton.closure(position: automaton.grammar.alternativeStarts[Int(alternative)], parent: -1) || canEnd
                automaton.scratch.append(contentsOf: automaton.closureTops)
            }
            return canEnd
        }
    }

    private func clearTables() {
        nodePosition.removeAll(keepingCapacity: true)
        nodeParent.removeAll(keepingCapacity: true)
        successorStart.removeAll(keepingCapacity: true)
        successorCount.removeAll(keepingCapacity: true)
        successorCanEnd.removeAll(keepingCapacity: true)
        successorPool.removeAll(keepingCapacity: true)
        mark.removeAll(keepingCapacity: true)
        if nodeTable.isEmpty {
            nodeTable = [Int32](repeating: 0, count: 1024)
        } else {
            nodeTable.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        configurationStart.removeAll(keepingCapacity: true)
        configurationCount.removeAll(keepingCapacity: true)
        configurationCanEnd.removeAll(keepingCapacity: true)
        configurationLoopSet.removeAll(keepingCapacity: true)
        configurationPureTable.removeAll()
        configurationTextBudget.removeAll()
        configurationPool.removeAll(keepingCapacity: true)
        transitions.removeAll()
        if configurationTable.isEmpty {
            configurationTable = [Int32](repeating: 0, count: 1024)
        } else {
            configurationTable.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        overflowed = false
        scratch.removeAll(keepingCapacity: true)
        _ = internConfiguration(canEnd: false)  // the dead configuration, id 0
    }

    /// Whether the tables have grown past their bound (call `compact` between tokens).
    var needsCompaction: Bool { configurationStart.count > maxConfigurations || nodePosition.count > maxConfigurations * 64 }

    /// Rebuilds the automaton with only `configuration`'s stacks; returns its new id.
    func compact(keeping configuration: Int32) -> Int32 {
        var chains: [[Int32]] = []
        for top in tops(of: configuration) {
            var chain: [Int32] = []
            var node = top
            while node >= 0 {
                chain.append(nodePosition[Int(node)])
                node = nodeParent[Int(node)]
            }
            chains.append(chain)
        }
        let canEnd = configurationCanEnd[Int(configuration)]
        clearTables()
        return buildConfiguration { automaton in
            for chain in chains {
                var parent: Int32 = -1
                for position in chain.reversed() { parent = automaton.internNode(position: position, parent: parent) }
                automaton.scratch.append(parent)
            }
            return canEnd
        }
    }

    func tops(of configuration: Int32) -> ArraySlice<Int32> {
        let start = Int(configurationStart[Int(configuration)])
        return configurationPool[start..<start + Int(configurationCount[Int(configuration)])]
    }

    func isEmpty(_ configuration: Int32) -> Bool { configurationCount[Int(configuration)] == 0 }

    // MARK: Transitions

    /// The configuration after `byte`, computing and keeping it on first use.
    @inline(__always)
    func next(_ configuration: Int32, _ byte: UInt8) -> Int32 {
        let cached = transitions[Int(configuration) &* 256 &+ Int(byte)]
        if cached != Self.unknown { return cached }
        return computeTransition(configuration, byte)
    }

    /// Computes and keeps a transition not yet known; may move `transitions` and
    /// `configurationPureTable` and `configurationTextBudget` (readers holding a `base` must refresh it).
    func computeTransition(_ configuration: Int32, _ byte: UInt8) -> Int32 {
        let start = Int(configurationStart[Int(configuration)])
        let count = Int(configurationCount[Int(configuration)])
        let result = buildConfiguration { automaton in
            var canEnd = false
            automaton.markGeneration &+= 1
            for index in start..<start + count {
                let top = automaton.configurationPool[index]
                let set = automaton.grammar.code[Int(automaton.nodePosition[Int(top)])]
                guard automaton.grammar.contains(set: set, byte: byte) else { continue }
                let (successorStart, successorCount, successorCanEnd) = automaton.successors(of: top)
                canEnd = canEnd || successorCanEnd
                for successor in automaton.successorPool[successorStart..<successorStart + successorCount]
                where automaton.mark[Int(successor)] != automaton.markGeneration {
                    automaton.mark[Int(successor)] = automaton.markGeneration
                    automaton.scratch.append(successor)
                }
            }
            return canEnd
        }
        transitions[Int(configuration) * 256 + Int(byte)] = result
        return result
    }

    /// Runs `fill` (which appends tops to `scratch` and returns whether the grammar may end), then
    /// interns the sorted, deduplicated tops as a configuration.
    private func buildConfiguration(_ fill: (StackSetAutomaton) -> Bool) -> Int32 {
        scratch.removeAll(keepingCapacity: true)
        let canEnd = fill(self)
        if scratch.count > maxStacks || overflowed {
            overflowed = true
            scratch.removeAll(keepingCapacity: true)
            return Self.dead
        }
        scratch.sort()
        var unique = 0
        for index in 0..<scratch.count where index == 0 || scratch[index] != scratch[index - 1] {
            scratch[unique] = scratch[index]
            unique += 1
        }
        scratch.removeLast(scratch.count - unique)
        return internConfiguration(canEnd: canEnd)
    }

    private func internConfiguration(canEnd: Bool) -> Int32 {
        var hash: UInt64 = canEnd ? 0x9E37_79B9_7F4A_7C15 : 0xCBF2_9CE4_8422_2325
        for top in scratch { hash = (hash ^ UInt64(UInt32(bitPattern: top))) &* 0x100_0000_01B3 }
        let mask = configurationTable.count - 1
        var slot = Int(truncatingIfNeeded: hash ^ (hash >> 29)) & mask
        while true {
            let entry = configurationTable[slot]
            if entry == 0 { break }
            let id = Int(entry - 1)
            if configurationCanEnd[id] == canEnd && configurationCount[id] == Int32(scratch.count) {
                let start = Int(configurationStart[id])
                if configurationPool[start..<start + scratch.count].elementsEqual(scratch) { return Int32(id) }
            }
            slot = (slot + 1) & mask
        }
        let id = Int32(configurationStart.count)
        configurationStart.append(Int32(configurationPool.count))
        configurationCount.append(Int32(scratch.count))
        configurationCanEnd.append(canEnd)
        configurationPool.append(contentsOf: scratch)
        transitions.append(Self.unknown, count: 256)
        configurationTable[slot] = id + 1
        configurationLoopSet.append(loopSet(ofTops: scratch))
        configurationPureTable.append(-2)
        configurationTextBudget.append(-2)
        if configurationStart.count * 2 > configurationTable.count { rehashConfigurations() }
        return id
    }

    /// A byte set on which the configuration loops: a top whose successors include itself stays
    /// alive on any string of that set's bytes, so a trie subtree made only of them is all allowed.
    private func loopSet(ofTops tops: [Int32]) -> Int32 {
        var best: Int32 = -1
        var bestSize = 0
        for top in tops {
            let (start, count, _) = successors(of: top)
            guard successorPool[start..<start + count].contains(top) else { continue }
            let set = grammar.code[Int(nodePosition[Int(top)])]
            var size = 0
            for word in 0..<4 { size += grammar.byteSets[Int(set) * 4 + word].nonzeroBitCount }
            if size > bestSize {
                best = set
                bestSize = size
            }
        }
        return best
    }

    private func rehashConfigurations() {
        configurationTable = [Int32](repeating: 0, count: configurationTable.count * 2)
        let mask = configurationTable.count - 1
        for id in 0..<configurationStart.count {
            var hash: UInt64 = configurationCanEnd[id] ? 0x9E37_79B9_7F4A_7C15 : 0xCBF2_9CE4_8422_2325
            let start = Int(configurationStart[id])
            for top in configurationPool[start..<start + Int(configurationCount[id])] {
                hash = (hash ^ UInt64(UInt32(bitPattern: top))) &* 0x100_0000_01B3
            }
            var slot = Int(truncatingIfNeeded: hash ^ (hash >> 29)) & mask
            while configurationTable[slot] != 0 { slot = (slot + 1) & mask }
            configurationTable[slot] = Int32(id + 1)
        }
    }

    // MARK: Stacks

    private func successors(of top: Int32) -> (Int, Int, Bool) {
        let node = Int(top)
        if successorStart[node] < 0 {
            closureTops.removeAll(keepingCapacity: true)
            let canEnd = closure(position: nodePosition[node] + 1, parent: nodeParent[node])
            successorStart[node] = Int32(successorPool.count)
            successorCount[node] = Int32(closureTops.count)
            successorCanEnd[node] = canEnd
            successorPool.append(contentsOf: closureTops)
        }
        return (Int(successorStart[node]), Int(successorCount[node]), successorCanEnd[node])
    }

    /// Appends to `closureTops` every top reachable from (position, parent) without consuming a byte;
    /// returns whether the root rule can end there.
    private func closure(position: Int32, parent: Int32) -> Bool {
        var canEnd = false
        visitGeneration &+= 1
        work.removeAll(keepingCapacity: true)
        work.append((position, parent))
        let code = grammar.code
        var steps = 0
        while let (position, parent) = work.popLast() {
            // A guard against a grammar the compile-time checks let through: never expand forever.
            steps += 1
            if steps > maxStacks &* 64 {
                overflowed = true
                break
            }
            guard firstVisit(position: position, parent: parent) else { continue }
            let element = code[Int(position)]
            if element >= 0 {
                closureTops.append(internNode(position: position, parent: parent))
            } else if element == Grammar.end {
                if parent < 0 {
                    canEnd = true
                } else {
                    work.append((nodePosition[Int(parent)], nodeParent[Int(parent)]))
                }
            } else {
                let rule = Grammar.referencedRule(element)
                // A reference last in its alternative returns straight to the parent (a tail call),
                // so right recursion such as `x*` does not deepen the stack.
                let returnTo = code[Int(position) + 1] == Grammar.end ? parent : internNode(position: position + 1, parent: parent)
                for alternative in grammar.alternativeOffsets[rule]..<grammar.alternativeOffsets[rule + 1] {
                    work.append((grammar.alternativeStarts[Int(alternative)], returnTo))
                }
            }
        }
        return canEnd
    }

    private func firstVisit(position: Int32, parent: Int32) -> Bool {
        if visited.isEmpty {
            visited = [Int64](repeating: 0, count: 256)
            visitedStamp = [UInt32](repeating: 0, count: 256)
        }
        let key = Int64(position) << 32 | Int64(UInt32(bitPattern: parent))
        var mask = visited.count - 1
        var slot = Int(truncatingIfNeeded: UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15 >> 40) & mask
        var used = 0
        while visitedStamp[slot] == visitGeneration {
            if visited[slot] == key { return false }
            slot = (slot + 1) & mask
            used += 1
            if used > visited.count / 2 {
                // Too full for this closure: grow (rare; the old entries only prevent repeats).
                visited = [Int64](repeating: 0, count: visited.count * 2)
                visitedStamp = [UInt32](repeating: 0, count: visited.count)
                mask = visited.count - 1
                slot = Int(truncatingIfNeeded: UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15 >> 40) & mask
            }
        }
        visited[slot] = key
        visitedStamp[slot] = visitGeneration
        return true
    }

    func internNode(position: Int32, parent: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: position)) << 32 | UInt64(UInt32(bitPattern: parent))
        var mask = nodeTable.count - 1
        var slot = Int(truncatingIfNeeded: key &* 0x9E37_79B9_7F4A_7C15 >> 32) & mask
        while nodeTable[slot] != 0 {
            let id = Int(nodeTable[slot] - 1)
            if nodePosition[id] == position && nodeParent[id] == parent { return Int32(id) }
            slot = (slot + 1) & mask
        }
        let id = Int32(nodePosition.count)
        nodePosition.append(position)
        nodeParent.append(parent)
        successorStart.append(-1)
        successorCount.append(0)
        successorCanEnd.append(false)
        mark.append(0)
        nodeTable[slot] = id + 1
        if nodePosition.count * 2 > nodeTable.count {
            nodeTable = [Int32](repeating: 0, count: nodeTable.count * 2)
            mask = nodeTable.count - 1
            for node in 0..<nodePosition.count {
                let key = UInt64(UInt32(bitPattern: nodePosition[node])) << 32 | UInt64(UInt32(bitPattern: nodeParent[node]))
                var slot = Int(truncatingIfNeeded: key &* 0x9E37_79B9_7F4A_7C15 >> 32) & mask
                while nodeTable[slot] != 0 { slot = (slot + 1) & mask }
                nodeTable[slot] = Int32(node + 1)
            }
        }
        return id
    }
}
