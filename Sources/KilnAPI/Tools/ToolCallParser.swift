/// Follows an answer to a request with tools as its text arrives, and splits it into text for
/// `content` and calls, in the frame of its `ToolCallSyntax`. Streaming sends each event as it
/// comes (the text, a call's name once it is complete, its arguments in fragments); the full
/// answer reads `content` and `calls` at the end.
///
/// The call grammar writes the frame exactly, so the parser only checks fixed text and scans
/// the JSON arguments for their end. Text that leaves the frame (possible only when the grammar did
/// not apply) is kept as content from there on, so nothing the model wrote is lost.
struct ToolCallParser {
    enum Event: Equatable {
        case content(String)
        case callStarted(index: Int, name: String)
        case arguments(index: Int, String)
    }

    struct Call: Equatable {
        var name: String
        var arguments = ""
    }

    private enum State: Equatable {
        /// Free text, watching for the syntax's trigger (`tool_choice: auto`).
        case text
        /// `generic`: the calls' opening, or the start of a text answer.
        case genericStart
        /// The text before the first call.
        case open
        case callStart
        case name
        case nameEnd
        /// The JSON arguments: bracket depth, inside a string, after a backslash in one.
        case arguments(depth: Int, inString: Bool, escaped: Bool)
        case callEnd
        /// After a call: a separator and another call, or the close.
        case afterCall
        /// `generic`'s text answer: its opening quote, then the JSON string being decoded.
        case responseQuote
        case response
        case responseEnd
        case done
        /// The text left the frame: the rest is content.
        case passthrough
    }

    let syntax: ToolCallSyntax
    /// The frame the calls are in: the template's, or the one whose trigger started them.
    private var frame: ToolCallSyntax.Frame
    /// Whether content other than whitespace has been told (a trigger that counts only at the
    /// start can no longer come).
    private var saidText = false
    /// The frame's text consumed before its first call: content after all if no call follows.
    private var unconfirmed = ""
    private var state: State
    /// Received text not yet consumed.
    private var pending = ""
    private(set) var content = ""
    private(set) var calls: [Call] = []

    /// `freeTextFirst`: the model may answer in text before any call (`auto`).
    init(syntax: ToolCallSyntax, freeTextFirst: Bool) {
        self.syntax = syntax
        frame = syntax.frame
        if syntax == .generic {
            state = .genericStart
        } else {
            state = freeTextFirst ? .text : .open
        }
    }

    /// Whether the calls ended as their frame says (the answer is then complete).
    var callsComplete: Bool {
        !calls.isEmpty && (state == .done || (state == .afterCall && frame.close.isEmpty && pending.isEmpty))
    }

    /// Consumes `text`; returns what can be told so far.
    mutating func append(_ text: String) -> [Event] {
        pending += text
        var events: [Event] = []
        while step(&events) {}
        return events
    }

    /// The end of the answer: text still held back is content, and so is the start of a frame
    /// that never reached a call.
    mutating func finish() -> [Event] {
        var events: [Event] = []
        switch state {
        case .responseQuote, .response, .responseEnd, .done:
            break
        default:
            if calls.isEmpty || state == .passthrough {
                emitContent((calls.isEmpty ? unconfirmed : "") + pending, &events)
                (unconfirmed, pending) = ("", "")
            }
        }
        return events
    }

    // MARK: Steps

    /// Advances one step; false when it needs more text.
    private mutating func step(_ events: inout [Event]) -> Bool {
        switch state {
        case .text:
            return scanText(&events)
        case .genericStart:
            switch FrameText(ToolCallSyntax.genericResponseStart).match(pending.utf8) {
            case .matched(let length):
                pending = Self.dropping(length, from: pending)
                state = .responseQuote
                return true
            case .needsMore: return false
            case .mismatch:
                state = .open
                return true
            }
        case .open:
            return expect(frame.open, then: .callStart, &events)
        case .callStart:
            return expect(frame.callStart, then: .name, &events)
        case .name:
            guard let quote = pending.firstIndex(of: "\"") else { return false }
            calls.append(Call(name: String(pending[..<quote])))
            unconfirmed = ""
            events.append(.callStarted(index: calls.count - 1, name: calls[calls.count - 1].name))
            pending.removeSubrange(..<quote)
            state = .nameEnd
            return true
        case .nameEnd:
            return expect(frame.nameEnd, then: .arguments(depth: 0, inString: false, escaped: false), &events)
        case let .arguments(depth, inString, escaped):
            return scanArguments(depth: depth, inString: inString, escaped: escaped, &events)
        case .callEnd:
            return expect(frame.callEnd, then: .afterCall, &events)
        case .afterCall:
            if pending.isEmpty { return false }
            let separator = frame.separator.isEmpty ? .mismatch : FrameText(frame.separator).match(pending.utf8)
            let close = frame.close.isEmpty ? .mismatch : FrameText(frame.close).match(pending.utf8)
            if case .matched(let length) = separator {
                pending = Self.dropping(length, from: pending)
                state = .callStart
            } else if case .matched(let length) = close {
                pending = Self.dropping(length, from: pending)
                state = .done
            } else if separator == .needsMore || close == .needsMore {
                return false
            } else {
                state = .passthrough
            }
            return true
        case .responseQuote:
            let text = pending.drop { $0.isWhitespace }
            if text.isEmpty { return false }
            guard text.first == "\"" else {
                state = .passthrough
                return true
            }
            pending = String(text.dropFirst())
            state = .response
            return true
        case .response:
            return decodeResponse(&events)
        case .responseEnd:
            return expect("}", then: .done, &events)
        case .done:
            // Nothing follows a finished answer; anything that does is kept as content.
            if pending.allSatisfy(\.isWhitespace) { return false }
            state = .passthrough
            return true
        case .passthrough:
            emitContent(unconfirmed + pending, &events)
            (unconfirmed, pending) = ("", "")
            return false
        }
    }

    /// Consumes `literal` (read as a `FrameText`) and moves to `next`; waits while `pending` could
    /// still become it; leaves the frame when it differs.
    private mutating func expect(_ literal: String, then next: State, _ events: inout [Event]) -> Bool {
        switch FrameText(literal).match(pending.utf8) {
        case .matched(let length):
            if calls.isEmpty { unconfirmed += String(decoding: pending.utf8.prefix(length), as: UTF8.self) }
            pending = Self.dropping(length, from: pending)
            state = next
        case .needsMore:
            return false
        case .mismatch:
            state = .passthrough
        }
        return true
    }

    /// `text` without its first `count` bytes (which end at a character boundary).
    private static func dropping(_ count: Int, from text: String) -> String {
        String(decoding: text.utf8.dropFirst(count), as: UTF8.self)
    }

    /// Free text until a frame's trigger: everything before it is content; a tail that could be a
    /// trigger's start is held back until the next text tells.
    private mutating func scanText(_ events: inout [Event]) -> Bool {
        let frames = syntax.frames
        let bytes = Array(pending.utf8)
        if !saidText {
            // Only whitespace so far: a trigger that counts at the start of the answer may come.
            let start = bytes.firstIndex { !FrameText.isSpace($0) } ?? bytes.count
            if start == bytes.count { return false }
            for (index, frame) in frames.enumerated() where frame.triggerOnlyAtStart {
                guard let trigger = frame.trigger else { continue }
                switch FrameText(trigger).match(bytes[start...]) {
                case .matched:
                    unconfirmed = String(decoding: bytes[..<start], as: UTF8.self)
                    pending = String(decoding: bytes[start...], as: UTF8.self)
                    enter(index)
                    return true
                case .needsMore: return false
                case .mismatch: continue
                }
            }
        }
        var earliest: (start: Int, frame: Int)?
        var heldFrom = bytes.count
        for (index, frame) in frames.enumerated() where !frame.triggerOnlyAtStart {
            guard let trigger = frame.trigger.map(FrameText.init) else { continue }
            if let range = trigger.firstMatch(in: bytes), earliest == nil || range.lowerBound < earliest!.start {
                earliest = (range.lowerBound, index)
            }
            heldFrom = min(heldFrom, trigger.partialStart(in: bytes) ?? bytes.count)
        }
        if let earliest {
            emitContent(String(decoding: bytes[..<earliest.start], as: UTF8.self), &events)
            pending = String(decoding: bytes[earliest.start...], as: UTF8.self)
            enter(earliest.frame)
            return true
        }
        emitContent(String(decoding: bytes[..<heldFrom], as: UTF8.self), &events)
        pending = String(decoding: bytes[heldFrom...], as: UTF8.self)
        return false
    }

    /// Follows the calls in frame `index` from their opening on.
    private mutating func enter(_ index: Int) {
        frame = syntax.frames[index]
        state = .open
    }

    /// Passes the arguments' JSON on as it comes, up to the bracket that closes it.
    private mutating func scanArguments(depth: Int, inString: Bool, escaped: Bool, _ events: inout [Event]) -> Bool {
        var (depth, inString, escaped) = (depth, inString, escaped)
        var fragment = ""
        var ended = false
        var consumed = pending.startIndex
        for index in pending.indices {
            let character = pending[index]
            consumed = pending.index(after: index)
            if depth == 0 && character.isWhitespace { continue }
            fragment.append(character)
            if inString {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                }
            } else if character == "\"" {
                inString = true
            } else if character == "{" || character == "[" {
                depth += 1
            } else if character == "}" || character == "]" {
                depth -= 1
                if depth == 0 {
                    ended = true
                    break
                }
            }
        }
        pending.removeSubrange(..<consumed)
        if !fragment.isEmpty {
            calls[calls.count - 1].arguments += fragment
            events.append(.arguments(index: calls.count - 1, fragment))
        }
        state = ended ? .callEnd : .arguments(depth: depth, inString: inString, escaped: escaped)
        return ended
    }

    /// `generic`'s text answer: decodes the JSON string as far as whole escapes go.
    private mutating func decodeResponse(_ events: inout [Event]) -> Bool {
        var decoded = ""
        var index = pending.startIndex
        var ended = false
        scan: while index < pending.endIndex {
            let character = pending[index]
            if character == "\"" {
                ended = true
                index = pending.index(after: index)
                break
            }
            guard character == "\\" else {
                decoded.append(character)
                index = pending.index(after: index)
                continue
            }
            let escape = pending[index...].prefix(12)
            guard escape.count >= 2 else { break }
            let letter = escape[escape.index(after: escape.startIndex)]
            let simple: [Character: String] = ["\"": "\"", "\\": "\\", "/": "/", "b": "\u{8}", "f": "\u{C}", "n": "\n", "r": "\r", "t": "\t"]
            if let replacement = simple[letter] {
                decoded += replacement
                index = pending.index(index, offsetBy: 2)
                continue
            }
            guard letter == "u" else { break scan }
            guard escape.count >= 6, let unit = UInt32(String(escape.dropFirst(2).prefix(4)), radix: 16) else { break }
            if (0xD800..<0xDC00).contains(unit) {
                // A high surrogate needs its low half, the next escape.
                guard escape.count >= 12 else { break }
                guard let low = UInt32(String(escape.dropFirst(8).prefix(4)), radix: 16), (0xDC00..<0xE000).contains(low),
                    let scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                else { break scan }
                decoded.unicodeScalars.append(scalar)
                index = pending.index(index, offsetBy: 12)
            } else {
                decoded.unicodeScalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
                index = pending.index(index, offsetBy: 6)
            }
        }
        pending.removeSubrange(..<index)
        emitContent(decoded, &events)
        if ended { state = .responseEnd }
        return ended
    }

    private mutating func emitContent(_ text: String, _ events: inout [Event]) {
        guard !text.isEmpty else { return }
        if !saidText && text.contains(where: { !$0.isWhitespace }) { saidText = true }
        content += text
        events.append(.content(text))
    }
}
