/// Lowers parsed GBNF to a `Grammar`: literals and classes to byte sets (UTF-8 sequences as helper
/// rules), groups and repetitions to helper rules, then checks that every rule is defined, that no
/// rule is left-recursive (the matcher would loop expanding it) and that the root can produce a
/// finite string at all.
struct GrammarBuilder {
    private var ruleIDs: [String: Int] = [:]
    private var ruleNames: [String] = []
    private var ruleAlternatives: [[[Int32]]] = []
    private var byteSets: [UInt64] = []
    private var byteSetIDs: [[UInt64]: Int32] = [:]
    private var classRules: [[GBNFSyntax.CodePointRange]: Int32] = [:]
    private var elementCount = 0
    private let limits: GrammarLimits

    private init(limits: GrammarLimits) { self.limits = limits }

    static func build(_ syntax: GBNFSyntax, root: String, limits: GrammarLimits) throws(GrammarError) -> Grammar {
        var builder = GrammarBuilder(limits: limits)
        for rule in syntax.rules where builder.ruleIDs[rule.name] == nil {
            builder.ruleIDs[rule.name] = builder.ruleNames.count
            builder.ruleNames.append(rule.name)
            builder.ruleAlternatives.append([])
        }
        for rule in syntax.rules {
            let id = builder.ruleIDs[rule.name]!
            for alternative in rule.alternatives {
                let elements = try builder.lower(alternative, in: rule.name)
                builder.ruleAlternatives[id].append(elements)
            }
        }
        guard let rootID = builder.ruleIDs[root] else { throw .invalidGrammar(message: "grammar does not define the rule '\(root)'") }
        return try builder.finish(root: rootID)
    }

    // MARK: Lowering

    private mutating func addRule(named base: String, alternatives: [[Int32]]) throws(GrammarError) -> Int {
        if ruleNames.count >= limits.maxRules { throw .limitExceeded(message: "more than \(limits.maxRules) rules", pointer: nil) }
        let id = ruleNames.count
        ruleNames.append("\(base)-\(id)")
        ruleAlternatives.append(alternatives)
        return id
    }

    private mutating func countElements(_ count: Int) throws(GrammarError) {
        elementCount += count
        if elementCount > limits.maxCompiledElements {
            throw .limitExceeded(message: "compiled grammar over \(limits.maxCompiledElements) elements", pointer: nil)
        }
    }

    private mutating func lower(_ terms: [GBNFSyntax.Term], in rule: String) throws(GrammarError) -> [Int32] {
        var elements: [Int32] = []
        for term in terms { elements += try lower(term, in: rule) }
        try countElements(elements.count + 1)
        return elements
    }

    private mutating func lower(_ term: GBNFSyntax.Term, in rule: String) throws(GrammarError) -> [Int32] {
        switch term {
        case .literal(let codePoints):
            return codePoints.flatMap { UTF8Sequences.encode($0) }.map { byteSet(lower: $0, upper: $0) }
        case .characterClass(let ranges, let negated):
            return [try characterClass(ranges, negated: negated, in: rule)]
        case let .rule(name, line, column):
            guard let id = ruleIDs[name] else {
                throw .syntax(message: "undefined rule '\(name)'", line: line, column: column)
            }
            return [Grammar.reference(to: id)]
        case .group(let alternatives):
            var lowered: [[Int32]] = []
            for alternative in alternatives { lowered.append(try lower(alternative, in: rule)) }
            if lowered.count == 1 { return lowered[0] }
            return [Grammar.reference(to: try addRule(named: rule, alternatives: lowered))]
        case let .repeated(inner, low, high):
            let unit = try lower(inner, in: rule)
            var elements: [Int32] = []
            for _ in 0..<low {
                elements += unit
                try countElements(unit.count)
            }
            if let high {
                if high > low {
                    // x{0,k} nests as (x (x (…)?)?)?, so a prefix of any length up to k matches.
                    var optional = try addRule(named: rule, alternatives: [unit, []])
                    for _ in 1..<(high - low) {
                        try countElements(unit.count + 2)
                        optional = try addRule(named: rule, alternatives: [unit + [Grammar.reference(to: optional)], []])
                    }
                    elements.append(Grammar.reference(to: optional))
                }
            } else {
                let star = ruleNames.count
                _ = try addRule(named: rule, alternatives: [unit + [Grammar.reference(to: star)], []])
                elements.append(Grammar.reference(to: star))
            }
            return elements
        }
    }

    private mutating func byteSet(lower: UInt8, upper: UInt8) -> Int32 {
        var words = [UInt64](repeating: 0, count: 4)
        for byte in lower...upper { words[Int(byte >> 6)] |= 1 << UInt64(byte & 63) }
        return internByteSet(words)
    }

    private mutating func internByteSet(_ words: [UInt64]) -> Int32 {
        if let id = byteSetIDs[words] { return id }
        let id = Int32(byteSets.count / 4)
        byteSets += words
        byteSetIDs[words] = id
        return id
    }

    /// A class as one element: a byte set when every member is one byte, else a helper rule with one
    /// alternative per UTF-8 sequence shape (single-byte members merged into one set).
    private mutating func characterClass(_ ranges: [GBNFSyntax.CodePointRange], negated: Bool, in rule: String) throws(GrammarError) -> Int32 {
        var normalized = ranges.sorted { $0.lower < $1.lower }
        var merged: [GBNFSyntax.CodePointRange] = []
        for range in normalized {
            if let last = merged.last, range.lower <= last.upper &+ 1 {
                merged[merged.count - 1].upper = max(last.upper, range.upper)
            } else {
                merged.append(range)
            }
        }
        if negated {
            var complement: [GBNFSyntax.CodePointRange] = []
            var next: UInt32 = 0
            for range in merged {
                if range.lower > next { complement.append(.init(next, range.lower - 1)) }
                next = range.upper &+ 1
            }
            if next <= 0x10FFFF { complement.append(.init(next, 0x10FFFF)) }
            merged = complement
        }
        normalized = merged
        if let cached = classRules[normalized] { return cached }
        var singleBytes = [UInt64](repeating: 0, count: 4)
        var hasSingle = false
        var alternatives: [[Int32]] = []
        for range in normalized {
            for sequence in UTF8Sequences.sequences(lower: range.lower, upper: range.upper) {
                if sequence.count == 1 {
                    for byte in sequence[0] { singleBytes[Int(byte >> 6)] |= 1 << UInt64(byte & 63) }
                    hasSingle = true
                } else {
                    alternatives.append(sequence.map { byteSet(lower: $0.lowerBound, upper: $0.upperBound) })
                }
            }
        }
        let element: Int32
        if alternatives.isEmpty {
            element = internByteSet(singleBytes)
        } else {
            if hasSingle { alternatives.insert([internByteSet(singleBytes)], at: 0) }
            try countElements(alternatives.reduce(0) { $0 + $1.count + 1 })
            element = Grammar.reference(to: try addRule(named: rule, alternatives: alternatives))
        }
        classRules[normalized] = element
        return element
    }

    // MARK: Checks and layout

    private func finish(root: Int) throws(GrammarError) -> Grammar {
        let nullable = nullableRules()
        try rejectLeftRecursion(nullable: nullable)
        if !productiveRules()[root] {
            throw .invalidGrammar(message: "rule '\(ruleNames[root])' cannot produce any finite string")
        }
        var code: [Int32] = []
        code.reserveCapacity(elementCount)
        var starts: [Int32] = []
        var offsets: [Int32] = [0]
        for alternatives in ruleAlternatives {
            for alternative in alternatives {
                starts.append(Int32(code.count))
                code += alternative
                code.append(Grammar.end)
            }
            offsets.append(Int32(starts.count))
        }
        return Grammar(code: code, byteSets: byteSets, alternativeStarts: starts, alternativeOffsets: offsets, ruleNames: ruleNames, rootRule: root)
    }

    private func nullableRules() -> [Bool] {
        var nullable = [Bool](repeating: false, count: ruleNames.count)
        var changed = true
        while changed {
            changed = false
            for (rule, alternatives) in ruleAlternatives.enumerated() where !nullable[rule] {
                let canBeEmpty = alternatives.contains { alternative in
                    alternative.allSatisfy { Grammar.isRuleReference($0) && nullable[Grammar.referencedRule($0)] }
                }
                if canBeEmpty {
                    nullable[rule] = true
                    changed = true
                }
            }
        }
        return nullable
    }

    private func productiveRules() -> [Bool] {
        var emptySets = Set<Int32>()
        for set in 0..<(byteSets.count / 4) where byteSets[set * 4..<set * 4 + 4].allSatisfy({ $0 == 0 }) {
            emptySets.insert(Int32(set))
        }
        var productive = [Bool](repeating: false, count: ruleNames.count)
        var changed = true
        while changed {
            changed = false
            for (rule, alternatives) in ruleAlternatives.enumerated() where !productive[rule] {
                let produces = alternatives.contains { alternative in
                    alternative.allSatisfy { element in
                        Grammar.isRuleReference(element) ? productive[Grammar.referencedRule(element)] : !emptySets.contains(element)
                    }
                }
                if produces {
                    productive[rule] = true
                    changed = true
                }
            }
        }
        return productive
    }

    /// A rule that can reach itself without consuming a byte, through a reference that is not last
    /// in its alternative, would make the matcher push forever. (Through last references only, as in
    /// `(x*)*`, it cannot: the matcher returns straight to the caller there, and its closure stops at
    /// a stack it has seen.) Such a reference is an edge inside a strongly connected component of
    /// the left-corner graph.
    private func rejectLeftRecursion(nullable: [Bool]) throws(GrammarError) {
        let count = ruleNames.count
        var edges = [[(target: Int, pushes: Bool)]](repeating: [], count: count)
        for (rule, alternatives) in ruleAlternatives.enumerated() {
            for alternative in alternatives {
                for (index, element) in alternative.enumerated() {
                    guard Grammar.isRuleReference(element) else { break }
                    let target = Grammar.referencedRule(element)
                    edges[rule].append((target, index + 1 < alternative.count))
                    if !nullable[target] { break }
                }
            }
        }
        // Kosaraju: finishing order on the graph, then components on the reversed graph.
        var order: [Int] = []
        var seen = [Bool](repeating: false, count: count)
        for start in 0..<count where !seen[start] {
            var stack: [(rule: Int, next: Int)] = [(start, 0)]
            seen[start] = true
            while let (rule, next) = stack.last {
                if next < edges[rule].count {
                    stack[stack.count - 1].next += 1
                    let target = edges[rule][next].target
                    if !seen[target] {
                        seen[target] = true
                        stack.append((target, 0))
                    }
                } else {
                    order.append(rule)
                    stack.removeLast()
                }
            }
        }
        var reversed = [[Int]](repeating: [], count: count)
        for (rule, targets) in edges.enumerated() { for edge in targets { reversed[edge.target].append(rule) } }
        var component = [Int](repeating: -1, count: count)
        var components = 0
        for start in order.reversed() where component[start] < 0 {
            var stack = [start]
            component[start] = components
            while let rule = stack.popLast() {
                for source in reversed[rule] where component[source] < 0 {
                    component[source] = components
                    stack.append(source)
                }
            }
            components += 1
        }
        for (rule, targets) in edges.enumerated() {
            for edge in targets where edge.pushes && component[edge.target] == component[rule] {
                throw .invalidGrammar(message: "rule '\(displayName(rule))' is left-recursive")
            }
        }
    }

    /// A generated rule's name without its numeric suffix, so messages name the rule a user wrote.
    private func displayName(_ rule: Int) -> String {
        let name = ruleNames[rule]
        if ruleIDs[name] != nil { return name }
        if let dash = name.lastIndex(of: "-") { return String(name[..<dash]) }
        return name
    }
}
