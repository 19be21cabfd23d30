/// Hand-written scanners, one per pre-tokenizer regular expression that llama.cpp uses.
///
/// Each scanner walks the scalars of one piece `[start, end)` and appends the end index of every
/// sub-piece it finds to `ends`; text between matches becomes a piece of its own, as with
/// llama.cpp's regex splitting. `classes[i]` is the `CodepointClass` raw value of scalar `i`.
/// Lookahead stops at the piece's end: past it a scalar has no class at all.
enum PreTokenizerScanner {
    typealias Scalars = UnsafeBufferPointer<UInt32>
    typealias Classes = UnsafeBufferPointer<UInt8>

    // Constants as computed properties: stored statics would be lazily initialised globals,
    // checked on every use in these loops.
    private static var letter: UInt8 { CodepointClass.letter.rawValue }
    private static var number: UInt8 { CodepointClass.number.rawValue }
    private static var whitespace: UInt8 { CodepointClass.whitespace.rawValue }
    private static var letterNumberOrSpace: UInt8 { CodepointClass.letterNumberOrSpace.rawValue }

    private static var apostrophe: UInt32 { 0x27 }
    private static var space: UInt32 { 0x20 }
    private static var carriageReturn: UInt32 { 0x0D }
    private static var lineFeed: UInt32 { 0x0A }

    /// The length of an English contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at
    /// `position`, or 0. `foldCase` also accepts upper-case letters (Llama 3's `(?i:…)`).
    @inline(__always)
    private static func contractionLength(_ scalars: Scalars, _ position: Int, _ end: Int, foldCase: Bool) -> Int {
        guard scalars[position] == apostrophe, position + 1 < end else { return 0 }
        func lower(_ value: UInt32) -> UInt32 {
            foldCase && value >= 0x41 && value <= 0x5A ? value + 0x20 : value
        }
        let next = lower(scalars[position + 1])
        switch next {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        default: break
        }
        guard position + 2 < end else { return 0 }
        let after = lower(scalars[position + 2])
        if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65) || (next == 0x6C && after == 0x6C) {
            return 3  // re ve ll
        }
        return 0
    }

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static func splitGPT2(_ scalars: Scalars, _ classes: Classes, start: Int, end: Int, into ends: inout [Int32]) {
        @inline(__always) func classAt(_ index: Int) -> UInt8 { index < end ? classes[index] : 0 }
        var position = start
        while position < end {
            let scalar = scalars[position]
            let contraction = contractionLength(scalars, position, end, foldCase: false)
            if contraction > 0 {
                position += contraction
                ends.append(Int32(position))
                continue
            }
            // An optional leading space joins the run that follows it.
            let leadingSpace = scalar == space ? 1 : 0
            let head = classAt(position + leadingSpace)
            if head & letter != 0 || head & number != 0 {
                let runClass = head & letter != 0 ? letter : number
                position += leadingSpace
                while classAt(position) & runClass != 0 { position += 1 }
                ends.append(Int32(position))
                continue
            }
            if head != 0 && head & letterNumberOrSpace == 0 {
                position += leadingSpace
                while true {
                    let current = classAt(position)
                    if current == 0 || current & letterNumberOrSpace != 0 { break }
                    position += 1
                }
                ends.append(Int32(position))
                continue
            }
            position = whitespaceRunEnd(classes, position, end)
            ends.append(Int32(position))
        }
    }

    /// `\s+(?!\S)|\s+` at `position`: a run of spaces leaves its last space to the word that
    /// follows it, unless the run reaches the end of the piece. One scalar if no whitespace.
    @inline(__always)
    private static func whitespaceRunEnd(_ classes: Classes, _ position: Int, _ end: Int) -> Int {
        var runEnd = position
        while runEnd < end && classes[runEnd] & whitespace != 0 { runEnd += 1 }
        let count = runEnd - position
        if count > 1 && runEnd < end { return runEnd - 1 }
        return count > 0 ? runEnd : position + 1
    }

    /// Llama 3 (`maximumDigits` 3) and Qwen 2 (`maximumDigits` 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,n}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    /// With `joinsMarks` (Qwen 3.5) `\p{L}` becomes `[\p{L}\p{M}]` in the word and
    /// punctuation alternatives: combining marks stay with the letters around them.
    static func splitLlama3(
        _ scalars: Scalars, _ classes: Classes, start: Int, end: Int,
        maximumDigits: Int, joinsMarks: Bool = false, into ends: inout [Int32]
    ) {
        let wordClass = joinsMarks ? letter | CodepointClass.mark.rawValue : letter
        let excluded = letterNumberOrSpace | wordClass
        @inline(__always) func classAt(_ index: Int) -> UInt8 { index < end ? classes[index] : 0 }
        @inline(__always) func isNewline(_ index: Int) -> Bool {
            index < end && (scalars[index] == carriageReturn || scalars[index] == lineFeed)
        }
        var position = start
        while position < end {
            let scalar = scalars[position]
            let current = classes[position]
            let contraction = contractionLength(scalars, position, end, foldCase: true)
            if contraction > 0 {
                position += contraction
                ends.append(Int32(position))
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !isNewline(position) && current & number == 0
                && (current & wordClass != 0 || classAt(position + 1) & wordClass != 0)
            {
                position += 1
                while classAt(position) & wordClass != 0 { position += 1 }
                ends.append(Int32(position))
                continue
            }
            // \p{N}{1,n}: a long number becomes pieces of n digits, left to right.
            if current & number != 0 {
                var groupStart = position
                while classAt(position) & number != 0 {
                    position += 1
                    if position - groupStart >= maximumDigits {
                        ends.append(Int32(position))
                        groupStart = position
                    }
                }
                if position > groupStart { ends.append(Int32(position)) }
                continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let next = scalar == space ? classAt(position + 1) : current
            if next & excluded == 0 {
                if scalar == space { position += 1 }
                while true {
                    let run = classAt(position)
                    if run == 0 || run & excluded != 0 { break }
                    position += 1
                }
                while isNewline(position) { position += 1 }
                ends.append(Int32(position))
                continue
            }
            // \s*[\r\n]+ ends after the run's last newline; otherwise \s+(?!\S) and \s+.
            var runEnd = position
            var afterLastNewline = -1
            while runEnd < end && classes[runEnd] & whitespace != 0 {
                if isNewline(runEnd) { afterLastNewline = runEnd + 1 }
                runEnd += 1
            }
            if afterLastNewline > 0 {
                position = afterLastNewline
            } else {
                position = whitespaceRunEnd(classes, position, end)
            }
            ends.append(Int32(position))
        }
    }

    /// `\p{N}`: every number scalar is a piece of its own.
    static func isolateNumbers(_ classes: Classes, start: Int, end: Int, into ends: inout [Int32]) {
        var position = start
        while position < end {
            if classes[position] & number != 0 {
                position += 1
            } else {
                while position < end && classes[position] & number == 0 { position += 1 }
            }
            ends.append(Int32(position))
        }
    }

    /// `[\r\n]` or `\p{N}`: each scalar that `isMember` accepts is a piece of its own, and so
    /// is each stretch between them.
    static func isolate(
        _ scalars: Scalars, _ classes: Classes, start: Int, end: Int,
        into ends: inout [Int32], isMember: (UInt32, UInt8) -> Bool
    ) {
        var position = start
        while position < end {
            if isMember(scalars[position], classes[position]) {
                position += 1
            } else {
                while position < end && !isMember(scalars[position], classes[position]) { position += 1 }
            }
            ends.append(Int32(position))
        }
    }

    /// `\s?X+`, X the scalars `isMember` accepts: a run of members, with the whitespace scalar
    /// just before it if there is one; each stretch between matches is a piece.
    static func splitSpacedRuns(
        _ scalars: Scalars, _ classes: Classes, start: Int, end: Int,
        into ends: inout [Int32], isMember: (UInt32, UInt8) -> Bool
    ) {
        @inline(__always) func member(_ index: Int) -> Bool {
            index < end && isMember(scalars[index], classes[index])
        }
        var pieceStart = start
        var position = start
        while position < end {
            let matchStart: Int
            if member(position) {
                matchStart = position
            } else if classes[position] & whitespace != 0 && member(position + 1) {
                matchStart = position
                position += 1
            } else {
                position += 1
                continue
            }
            if matchStart > pieceStart { ends.append(Int32(matchStart)) }
            while member(position) { position += 1 }
            ends.append(Int32(position))
            pieceStart = position
        }
        if end > pieceStart { ends.append(Int32(end)) }
    }

    /// `\s+$`: the whitespace that ends the piece, if any, is a piece of its own.
    static func splitTrailingWhitespace(_ classes: Classes, start: Int, end: Int, into ends: inout [Int32]) {
        var runStart = end
        while runStart > start && classes[runStart - 1] & whitespace != 0 { runStart -= 1 }
        if runStart > start && runStart < end { ends.append(Int32(runStart)) }
        if end > start { ends.append(Int32(end)) }
    }

    /// A class run such as `\p{N}+` or `[\p{P}\$\+<=>\^~\|]+`: each maximal run of scalars that
    /// `isMember` accepts is a piece, and so is each stretch between runs.
    static func splitRuns(
        _ scalars: Scalars, _ classes: Classes, start: Int, end: Int,
        into ends: inout [Int32], isMember: (UInt32, UInt8) -> Bool
    ) {
        var position = start
        while position < end {
            let inside = isMember(scalars[position], classes[position])
            while position < end && isMember(scalars[position], classes[position]) == inside { position += 1 }
            ends.append(Int32(position))
        }
    }

    /// `[0-9][0-9][0-9]`: each group of three ASCII digits, left to right, is a piece.
    static func splitDigitTriples(_ scalars: Scalars, start: Int, end: Int, into ends: inout [Int32]) {
        @inline(__always) func isDigit(_ index: Int) -> Bool { scalars[index] >= 0x30 && scalars[index] <= 0x39 }
        var position = start
        var pieceStart = start
        while position < end {
            if position + 3 <= end && isDigit(position) && isDigit(position + 1) && isDigit(position + 2) {
                if position > pieceStart { ends.append(Int32(position)) }
                position += 3
                ends.append(Int32(position))
                pieceStart = position
            } else {
                position += 1
            }
        }
        if end > pieceStart { ends.append(Int32(end)) }
    }
}
