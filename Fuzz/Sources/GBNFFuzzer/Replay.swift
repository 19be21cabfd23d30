#if !LIBFUZZER
    import FuzzReplay

    /// Without libFuzzer (a plain `swift build`), replays the files named on the command line.
    @main
    enum Replay {
        static func main() { replayInputs(through: fuzzGBNF) }
    }
#endif
