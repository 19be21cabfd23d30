import Foundation
import KilnServe

/// Sampling parameters of the fake model: only a seed.
struct FakeSampling: Sendable, Equatable {
    var seed: UInt64
}

/// A deterministic stand-in for a language model.
///
/// The "K/V" of position `p` is a 64-bit state that depends on every token at positions `0...p`,
/// like a real transformer's; the next token depends on the state of the last position, the seed
/// and how many tokens were generated. Generation needs no cache at all (`reference`), so any
/// scheduler bug that feeds a sequence wrong K/V (a stale, shared, or overwritten block) changes
/// its tokens, and `FakeModelExecutor` additionally checks every slot it reads.
enum FakeModel {
    static let vocabularySize: UInt64 = 1000
    static let rootState: UInt64 = 0x9e37_79b9_7f4a_7c15

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The K/V "state" after `token` at `position`, given the state before it. Never 0.
    static func extend(_ state: UInt64, token: TokenID, position: Int) -> UInt64 {
        mix(state ^ mix(UInt64(UInt32(bitPattern: token)) &+ UInt64(position) << 32)) | 1
    }

    static func nextToken(lastState: UInt64, seed: UInt64, generatedCount: Int) -> TokenID {
        TokenID(mix(lastState ^ mix(seed ^ UInt64(generatedCount) &* 0x1000_0000_01b3)) % vocabularySize)
    }

    static func state(after tokens: ArraySlice<TokenID>) -> UInt64 {
        var state = rootState
        for (offset, token) in tokens.enumerated() {
            state = extend(state, token: token, position: offset)
        }
        return state
    }

    /// What the model generates alone, without any cache: up to `maxNewTokens` tokens, ending
    /// early after (and including) a stop token.
    static func reference(
        prompt: [TokenID], seed: UInt64, maxNewTokens: Int,
        stopTokenIDs: Set<TokenID> = []
    ) -> [TokenID] {
        var context = prompt
        var generated: [TokenID] = []
        while generated.count < maxNewTokens {
            let token = nextToken(
                lastState: state(after: context[...]), seed: seed,
                generatedCount: generated.count)
            generated.append(token)
            context.append(token)
            if stopTokenIDs.contains(token) { break }
        }
        return generated
    }
}

enum FakeExecutorError: Error, CustomStringConvertible {
    case contractViolation(String)
    case corruptKV(sequence: SequenceID, position: Int)
    case injectedFailure

    var description: String {
        switch self {
        case let .contractViolation(message): return "contract violation: \(message)"
        case let .corruptKV(sequence, position): return "sequence \(sequence) read wrong K/V at position \(position)"
        case .injectedFailure: return "injected failure"
        }
    }
}

/// Runs `FakeModel` over a real paged slot array indexed through the scheduler's block tables,
/// checking the `BatchExecutor` contract on every call.
final class FakeModelExecutor: BatchExecutor, @unchecked Sendable {
    struct Entry: Equatable {
        var id: SequenceID
        var start: Int
        var count: Int
        var samples: Bool
    }

    let blockSize: Int
    let blockCount: Int
    private let lock = NSLock()
    private var slots: [UInt64]
    private var recordedCalls: [[Entry]] = []
    private var releasedIDs: [SequenceID] = []
    /// Runs at the start of every call (e.g. to advance a manual clock or cancel a job).
    var beforeExecute: ((ExecutorBatch) -> Void)?
    /// Makes the next call throw.
    var failNextCall = false
    /// Whether the scheduler may copy prompt tails (`copyKVBlock`); off by default.
    var copiesBlocks = false
    private var recordedCopies: [(source: KVBlockID, destination: KVBlockID)] = []

    init(blockSize: Int, blockCount: Int) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        slots = Array(repeating: 0, count: blockSize * blockCount)
    }

    var calls: [[Entry]] {
        lock.lock()
        defer { lock.unlock() }
        return recordedCalls
    }

    var released: [SequenceID] {
        lock.lock()
        defer { lock.unlock() }
        return releasedIDs
    }

    /// Entries of one sequence over all calls.
    func entries(of id: SequenceID) -> [Entry] {
        calls.flatMap { $0.filter { $0.id == id } }
    }

    var copiesKVBlocks: Bool { copiesBlocks }

    /// The block copies asked for, in order.
    var copies: [(source: KVBlockID, destination: KVBlockID)] {
        lock.lock()
        defer { lock.unlock() }
        return recordedCopies
    }

    func copyKVBlock(_ source: KVBlockID, to destination: KVBlockID) throws {
        lock.lock()
        defer { lock.unlock() }
        guard copiesBlocks, source != destination, Int(source) < blockCount, Int(destination) < blockCount else {
            throw FakeExecutorError.contractViolation("copy of block \(source) to \(destination)")
        }
        recordedCopies.append((source, destination))
        for offset in 0..<blockSize {
            slots[Int(destination) * blockSize + offset] = slots[Int(source) * blockSize + offset]
        }
    }

    func releaseSequence(_ id: SequenceID) {
        lock.lock()
        releasedIDs.append(id)
        lock.unlock()
    }

    func execute(_ batch: ExecutorBatch) throws -> [ExecutorOutput] {
        beforeExecute?(batch)
        lock.lock()
        defer { lock.unlock() }
        recordedCalls.append(
            batch.sequences.map {
                Entry(id: $0.sequenceID, start: $0.startPosition, count: $0.tokens.count, samples: $0.samplesNextToken)
            })
        if failNextCall {
            failNextCall = false
            throw FakeExecutorError.injectedFailure
        }
        try checkContract(batch)
        // Write every entry's K/V first, as a forward pass does, then read.
        for work in batch.sequences {
            var state =
                work.startPosition == 0
                ? FakeModel.rootState : try read(work, position: work.startPosition - 1)
            for (offset, token) in work.tokens.enumerated() {
                let position = work.startPosition + offset
                state = FakeModel.extend(state, token: token, position: position)
                slots[slot(work, position)] = state
            }
        }
        var outputs: [ExecutorOutput] = []
        for work in batch.sequences {
            let end = work.startPosition + work.tokens.count
            // Everything this sequence attends to must be exactly its own prefix.
            var expected = FakeModel.rootState
            for position in 0..<end {
                expected = FakeModel.extend(expected, token: work.contextTokens[position], position: position)
                guard try read(work, position: position) == expected else {
                    throw FakeExecutorError.corruptKV(sequence: work.sequenceID, position: position)
                }
            }
            guard work.samplesNextToken else { continue }
            let seed = (work.sampling as? FakeSampling)?.seed ?? 0
            let token = FakeModel.nextToken(
                lastState: expected, seed: seed,
                generatedCount: work.generatedTokens.count)
            outputs.append(
                ExecutorOutput(
                    sequenceID: work.sequenceID, token: token,
                    logprobs: Double(token) / 1000))
        }
        return outputs
    }

    private func slot(_ work: ExecutorSequenceWork, _ position: Int) -> Int {
        Int(work.blockTable[position / blockSize]) * blockSize + position % blockSize
    }

    private func read(_ work: ExecutorSequenceWork, position: Int) throws -> UInt64 {
        let value = slots[slot(work, position)]
        guard value != 0 else {
            throw FakeExecutorError.contractViolation("sequence \(work.sequenceID) reads unwritten position \(position)")
        }
        return value
    }

    private func checkContract(_ batch: ExecutorBatch) throws {
        guard batch.blockSize == blockSize else { throw FakeExecutorError.contractViolation("block size") }
        var ids = Set<SequenceID>()
        var writtenBlocks: [KVBlockID: SequenceID] = [:]
        for work in batch.sequences {
            let end = work.startPosition + work.tokens.count
            guard ids.insert(work.sequenceID).inserted else {
                throw FakeExecutorError.contractViolation("sequence \(work.sequenceID) twice in a batch")
            }
            guard !work.tokens.isEmpty, end <= work.contextTokens.count,
                work.blockTable.count * blockSize >= end,
                work.blockTable.allSatisfy({ $0 >= 0 && Int($0) < blockCount }),
                Array(work.tokens) == Array(work.contextTokens[work.startPosition..<end]),
                work.samplesNextToken == (end == work.contextTokens.count)
            else {
                throw FakeExecutorError.contractViolation("malformed entry for sequence \(work.sequenceID)")
            }
            for position in work.startPosition..<end {
                writtenBlocks[work.blockTable[position / blockSize]] = work.sequenceID
            }
        }
        // No entry may write into a block that another entry of this batch uses.
        for work in batch.sequences {
            for block in work.blockTable {
                if let writer = writtenBlocks[block], writer != work.sequenceID {
                    throw FakeExecutorError.contractViolation(
                        "sequence \(writer) writes block \(block) that sequence \(work.sequenceID) uses")
                }
            }
        }
    }
}
