/// Finds stop sequences in generated text as it streams, and holds back just enough text that a
/// stop sequence split across tokens is never sent to the client before it is recognised.
///
/// Feed each decoded piece to `append`; it returns the text that is safe to send now. When a stop
/// sequence appears, `stopped` becomes true, the text before it is returned and the rest dropped.
/// At the end of generation, `finish()` returns whatever was held back.
public struct StopSequenceMatcher: Sendable {
    public let stops: [String]
    public private(set) var stopped = false
    private var pending = ""
    private let longest: Int

    public init(stops: [String]) {
        self.stops = stops
        longest = stops.map(\.count).max() ?? 0
    }

    public mutating func append(_ piece: String) -> String {
        guard !stopped else { return "" }
        guard !stops.isEmpty else { return piece }
        pending += piece
        // The earliest stop sequence wins, wherever it starts in what is pending.
        var earliest: Range<String.Index>?
        for stop in stops {
            if let range = pending.firstRange(of: stop), earliest == nil || range.lowerBound < earliest!.lowerBound {
                earliest = range
            }
        }
        if let earliest {
            stopped = true
            let text = String(pending[..<earliest.lowerBound])
            pending = ""
            return text
        }
        // Keep the longest tail that is a proper prefix of some stop sequence.
        let keep = heldBackCount()
        let cut = pending.index(pending.endIndex, offsetBy: -keep)
        let text = String(pending[..<cut])
        pending = String(pending[cut...])
        return text
    }

    public mutating func finish() -> String {
        defer { pending = "" }
        return stopped ? "" : pending
    }

    private func heldBackCount() -> Int {
        let maximum = min(longest - 1, pending.count)
        guard maximum > 0 else { return 0 }
        for length in stride(from: maximum, through: 1, by: -1) {
            let tail = pending.suffix(length)
            if stops.contains(where: { $0.hasPrefix(tail) }) { return length }
        }
        return 0
    }
}
