/// Recognises a configuration that accepts any text: a set of ASCII bytes each leading back to it,
/// and every well-formed multi-byte UTF-8 character leading back to it too (the inside of a JSON
/// string, a free-text pattern). Below such a configuration a trie subtree whose bytes are all such
/// text is allowed whole (`TokenVocabulary.pureSubtreesOfText`), so the walk skips the tokens of
/// every script, not only ASCII ones.
enum UTF8Loop {
    /// The next state of UTF-8's decoding automaton, or −1 for a byte that cannot come next.
    /// States: 0 between characters; 1, 2, 3 continuation bytes to go; 4 after E0, 5 after ED,
    /// 6 after F0, 7 after F4 (whose next byte is restricted).
    @inline(__always)
    static func next(_ state: Int, _ byte: UInt8) -> Int {
        switch state {
        case 0:
            switch byte {
            case 0x00...0x7F: return 0
            case 0xC2...0xDF: return 1
            case 0xE0: return 4
            case 0xE1...0xEC, 0xEE...0xEF: return 2
            case 0xED: return 5
            case 0xF0: return 6
            case 0xF1...0xF3: return 3
            case 0xF4: return 7
            default: return -1
            }
        case 1, 2, 3: return byte >= 0x80 && byte <= 0xBF ? state - 1 : -1
        case 4: return byte >= 0xA0 && byte <= 0xBF ? 1 : -1
        case 5: return byte >= 0x80 && byte <= 0x9F ? 1 : -1
        case 6: return byte >= 0x90 && byte <= 0xBF ? 2 : -1
        default: return byte >= 0x80 && byte <= 0x8F ? 2 : -1
        }
    }

    /// The ASCII bytes (as four words) that lead `configuration` back to itself, if every
    /// multi-byte character does too and that set is not empty; nil otherwise. Checks one byte per
    /// byte class (`Grammar.byteClassRepresentatives`), so a few hundred transitions at most.
    static func asciiSet(of configuration: Int32, in automaton: StackSetAutomaton) -> [UInt64]? {
        var words = [UInt64](repeating: 0, count: 4)
        for byte in UInt8(0)...0x7F where automaton.next(configuration, byte) == configuration {
            words[Int(byte >> 6)] |= 1 << UInt64(byte & 63)
        }
        if words[0] == 0 && words[1] == 0 { return nil }
        let representatives = automaton.grammar.byteClassRepresentatives.filter { $0 >= 0x80 }
        var pending: [(Int32, Int)] = []
        for lead in representatives {
            let decoder = next(0, lead)
            if decoder < 0 { continue }
            let state = automaton.next(configuration, lead)
            if state == StackSetAutomaton.dead { return nil }
            pending.append((state, decoder))
        }
        while let (state, decoder) = pending.popLast() {
            for byte in representatives {
                let nextDecoder = next(decoder, byte)
                if nextDecoder < 0 { continue }
                let nextState = automaton.next(state, byte)
                if nextState == StackSetAutomaton.dead { return nil }
                if nextDecoder == 0 {
                    if nextState != configuration { return nil }
                } else {
                    pending.append((nextState, nextDecoder))
                }
            }
        }
        return words
    }

    /// What one character of JSON string text does from `configuration`: nil when characters lead
    /// to different places (or some are refused while others are not), `dead` when every one is
    /// refused, else the one configuration every one leads to.
    static func textSuccessor(of configuration: Int32, in automaton: StackSetAutomaton, ascii: [UInt64]) -> Int32? {
        var successor: Int32?
        for byte in UInt8(0)...0x7F where (ascii[Int(byte >> 6)] >> UInt64(byte & 63)) & 1 != 0 {
            let next = automaton.next(configuration, byte)
            if successor == nil { successor = next } else if next != successor { return nil }
        }
        guard let successor else { return nil }
        let representatives = automaton.grammar.byteClassRepresentatives.filter { $0 >= 0x80 }
        var pending: [(Int32, Int)] = []
        for lead in representatives {
            let decoder = next(0, lead)
            if decoder < 0 { continue }
            let state = automaton.next(configuration, lead)
            if state == StackSetAutomaton.dead {
                if successor != StackSetAutomaton.dead { return nil }
                continue
            }
            if successor == StackSetAutomaton.dead { return nil }
            pending.append((state, decoder))
        }
        while let (state, decoder) = pending.popLast() {
            for byte in representatives {
                let nextDecoder = next(decoder, byte)
                if nextDecoder < 0 { continue }
                let nextState = automaton.next(state, byte)
                if nextState == StackSetAutomaton.dead { return nil }
                if nextDecoder == 0 {
                    if nextState != successor { return nil }
                } else {
                    pending.append((nextState, nextDecoder))
                }
            }
        }
        return successor
    }

    /// How many more characters of JSON string text `configuration` takes, each leading to one
    /// configuration, until none is taken (the inside of a `maxLength` string); −1 when it is not
    /// such a chain. Known budgets are kept in the automaton.
    static func textBudget(of configuration: Int32, in automaton: StackSetAutomaton) -> Int32 {
        var chain: [Int32] = []
        var current = configuration
        var budget: Int32 = -1
        while true {
            let known = automaton.configurationTextBudget[Int(current)]
            if known != -2 {
                budget = known
                break
            }
            if chain.count > 100_000 { break }
            guard let successor = textSuccessor(of: current, in: automaton, ascii: TokenVocabulary.jsonStringASCII) else { break }
            if successor == StackSetAutomaton.dead {
                automaton.configurationTextBudget[Int(current)] = 0
                budget = 0
                break
            }
            if successor == current || chain.contains(successor) { break }  // a loop, not a bound
            chain.append(current)
            current = successor
        }
        if budget < 0 {
            automaton.configurationTextBudget[Int(current)] = -1
            for state in chain { automaton.configurationTextBudget[Int(state)] = -1 }
            return -1
        }
        for state in chain.reversed() {
            budget += 1
            automaton.configurationTextBudget[Int(state)] = budget
        }
        return automaton.configurationTextBudget[Int(configuration)]
    }
}
