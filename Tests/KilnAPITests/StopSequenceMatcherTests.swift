import KilnAPI
import Testing

@Suite struct StopSequenceMatcherTests {
    func run(_ pieces: [String], stops: [String]) -> (String, Bool) {
        var matcher = StopSequenceMatcher(stops: stops)
        var out = ""
        for piece in pieces { out += matcher.append(piece) }
        out += matcher.finish()
        return (out, matcher.stopped)
    }

    @Test func noStopsPassesThrough() {
        #expect(run(["a", "b"], stops: []) == ("ab", false))
    }

    @Test func stopInsideOnePiece() {
        #expect(run(["hello END world"], stops: ["END"]) == ("hello ", true))
    }

    @Test func stopSplitAcrossPieces() {
        var matcher = StopSequenceMatcher(stops: ["</answer>"])
        #expect(matcher.append("42</an") == "42")
        #expect(matcher.append("swer> more") == "")
        #expect(matcher.stopped)
        #expect(matcher.finish() == "")
    }

    @Test func heldBackTextIsReleasedWhenItStopsMatching() {
        var matcher = StopSequenceMatcher(stops: ["\n\n"])
        #expect(matcher.append("line\n") == "line")
        #expect(matcher.append("next") == "\nnext")
        #expect(!matcher.stopped)
    }

    @Test func earliestStopWins() {
        #expect(run(["a STOP b HALT"], stops: ["HALT", "STOP"]) == ("a ", true))
    }

    @Test func heldBackTextIsFlushedAtTheEnd() {
        #expect(run(["ends with </an"], stops: ["</answer>"]) == ("ends with </an", false))
    }

    @Test func multiByteCharacters() {
        #expect(run(["日本", "語で", "す。"], stops: ["です"]) == ("日本語", true))
    }
}
