/// Splits template source into tokens the way jinja2's lexer does with `trim_blocks` and
/// `lstrip_blocks` enabled:
///
/// - `\r\n` and `\r` become `\n`, and one trailing newline is dropped;
/// - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after it;
/// - a block or comment tag alone on its line (after spaces/tabs) has that indentation removed,
///   unless it opens with `{%+`;
/// - the first newline after `%}` or `#}` is removed, unless the tag ends with `+%}`;
/// - `{% raw %}...{% endraw %}` is literal text.
struct TemplateLexer {
    private let source: [Unicode.Scalar]
    /// Index into `source` of the next scalar to lex.
    var position = 0
    private var line = 1
    /// Whether the text before the next tag starts at the beginning of a line (jinja2's
    /// `line_starting`), which decides whether `lstrip_blocks` may remove its indentation.
    private var lineStarting = true
    private var tokens: [TemplateToken] = []

    init(source: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var previousWasCR = false
        for scalar in source.unicodeScalars {
            if scalar == "\r" {
                scalars.append("\n")
                previousWasCR = true
                continue
            }
            if scalar == "\n", previousWasCR {
                previousWasCR = false
                continue
            }
            previousWasCR = false
            scalars.append(scalar)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        self.source = scalars
    }

    var sourceScalars: [Unicode.Scalar] { source }
    var currentLine: Int { line }
    mutating func advanceLine() { line += 1 }
    mutating func append(_ kind: TemplateToken.Kind) { tokens.append(TemplateToken(kind: kind, line: line)) }

    static func tokenize(_ source: String) throws -> [TemplateToken] {
        var lexer = TemplateLexer(source: source)
        return try lexer.run()
    }

    private mutating func run() throws -> [TemplateToken] {
        while position < source.count {
            guard let tagStart = findTagStart(from: position) else {
                emitText(position, source.count)
                position = source.count
                break
            }
            let opener = source[tagStart + 1]
            var signIndex = tagStart + 2
            let sign: Unicode.Scalar? =
                signIndex < source.count && (source[signIndex] == "-" || source[signIndex] == "+")
                ? source[signIndex] : nil
            if sign != nil { signIndex += 1 }

            if opener == "%", let rawEnd = matchRawBegin(at: signIndex) {
                emitLeadingText(upTo: tagStart, sign: sign, isVariable: false)
                try lexRaw(bodyStart: rawEnd)
                continue
            }
            emitLeadingText(upTo: tagStart, sign: sign, isVariable: opener == "{")
            position = signIndex
            switch opener {
            case "#": try lexComment()
            case "{": try lexTag(isBlock: false)
            default: try lexTag(isBlock: true)
            }
        }
        tokens.append(TemplateToken(kind: .end, line: line))
        return tokens
    }

    private func findTagStart(from start: Int) -> Int? {
        var index = start
        while index + 1 < source.count {
            if source[index] == "{" {
                let next = source[index + 1]
                if next == "{" || next == "%" || next == "#" { return index }
            }
            index += 1
        }
        return nil
    }

    /// Emits the text before a tag after applying `-` stripping or `lstrip_blocks`.
    private mutating func emitLeadingText(upTo tagStart: Int, sign: Unicode.Scalar?, isVariable: Bool) {
        var end = tagStart
        if sign == "-" {
            while end > position, PythonText.isWhitespace(source[end - 1]) { end -= 1 }
        } else if sign != "+", !isVariable {
            var lineStart = end
            while lineStart > position, source[lineStart - 1] != "\n" { lineStart -= 1 }
            let onlyWhitespace = (lineStart..<end).allSatisfy { PythonText.isWhitespace(source[$0]) }
            if lineStart > position || lineStarting, onlyWhitespace {
                end = lineStart
            }
        }
        emitText(position, end)
        // Lines of stripped whitespace still count for line numbers.
        for index in end..<tagStart where source[index] == "\n" { line += 1 }
        position = tagStart
    }

    private mutating func emitText(_ start: Int, _ end: Int) {
        guard end > start else { return }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: source[start..<end])
        tokens.append(TemplateToken(kind: .text(String(text)), line: line))
        for index in start..<end where source[index] == "\n" { line += 1 }
    }

    private func matches(_ literal: String, at index: Int) -> Bool {
        var cursor = index
        for scalar in literal.unicodeScalars {
            guard cursor < source.count, source[cursor] == scalar else { return false }
            cursor += 1
        }
        return true
    }

    private func skipWhitespace(from index: Int) -> Int {
        var cursor = index
        while cursor < source.count, PythonText.isWhitespace(source[cursor]) { cursor += 1 }
        return cursor
    }

    /// If `{% raw %}` starts at `index` (just after `{%` and its sign), returns where its body starts.
    private func matchRawBegin(at index: Int) -> Int? {
        let nameStart = skipWhitespace(from: index)
        guard matches("raw", at: nameStart) else { return nil }
        let afterName = skipWhitespace(from: nameStart + 3)
        if matches("-%}", at: afterName) { return skipWhitespace(from: afterName + 3) }
        if matches("%}", at: afterName) { return afterName + 2 }
        return nil
    }

    private mutating func lexRaw(bodyStart: Int) throws {
        countLines(position, bodyStart)
        var cursor = bodyStart
        while let tagStart = findTagStart(from: cursor) {
            cursor = tagStart + 1
            guard source[tagStart + 1] == "%" else { continue }
            var nameStart = tagStart + 2
            let sign: Unicode.Scalar? =
                nameStart < source.count && (source[nameStart] == "-" || source[nameStart] == "+")
                ? source[nameStart] : nil
            if sign != nil { nameStart += 1 }
            nameStart = skipWhitespace(from: nameStart)
            guard matches("endraw", at: nameStart) else { continue }
            let afterName = skipWhitespace(from: nameStart + 6)
            let tagEnd: Int
            if matches("+%}", at: afterName) {
                tagEnd = afterName + 3
            } else if matches("-%}", at: afterName) {
                tagEnd = skipWhitespace(from: afterName + 3)
            } else if matches("%}", at: afterName) {
                tagEnd = afterName + 2 < source.count && source[afterName + 2] == "\n" ? afterName + 3 : afterName + 2
            } else {
                continue
            }
            position = bodyStart
            emitLeadingText(upTo: tagStart, sign: sign, isVariable: false)
            countLines(tagStart, tagEnd)
            position = tagEnd
            lineStarting = source[tagEnd - 1] == "\n"
            return
        }
        throw TemplateError.syntax("Missing end of raw directive", line: line)
    }

    private mutating func countLines(_ start: Int, _ end: Int) {
        for index in start..<min(end, source.count) where source[index] == "\n" { line += 1 }
    }

    private mutating func lexComment() throws {
        var cursor = position
        while cursor + 1 < source.count {
            if source[cursor] == "#", source[cursor + 1] == "}" {
                var end = cursor + 2
                if cursor > position, source[cursor - 1] == "-" {
                    end = skipWhitespace(from: end)
                } else if !(cursor > position && source[cursor - 1] == "+"),
                    end < source.count, source[end] == "\n"
                {
                    end += 1
                }
                countLines(position, end)
                lineStarting = source[end - 1] == "\n"
                position = end
                return
            }
            cursor += 1
        }
        throw TemplateError.syntax("Missing end of comment tag", line: line)
    }
}

extension TemplateLexer {
    private static let twoCharacterSymbols: Set<String> = ["**", "//", "==", "!=", ">=", "<="]
    private static let oneCharacterSymbols: Set<Unicode.Scalar> = [
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", "=", ".", ":", "|", ",", ";", "<", ">",
    ]

    /// Lexes the inside of `{% ... %}` or `{{ ... }}` up to and including its closing delimiter.
    private mutating func lexTag(isBlock: Bool) throws {
        tokens.append(TemplateToken(kind: isBlock ? .blockBegin : .variableBegin, line: line))
        var balance: [Unicode.Scalar] = []
        while true {
            guard position < source.count else {
                let expected = isBlock ? "end of statement block" : "end of print statement"
                throw TemplateError.syntax("unexpected end of template, expected '\(expected)'.", line: line)
            }
            if balance.isEmpty, let end = matchTagEnd(isBlock: isBlock) {
                tokens.append(TemplateToken(kind: isBlock ? .blockEnd : .variableEnd, line: line))
                countLines(position, end)
                lineStarting = source[end - 1] == "\n"
                position = end
                return
            }
            let scalar = source[position]
            if PythonText.isWhitespace(scalar) {
                if scalar == "\n" { line += 1 }
                position += 1
                lineStarting = scalar == "\n"
                continue
            }
            lineStarting = false
            if ("0"..."9").contains(scalar) {
                try lexNumber()
            } else if scalar == "_" || scalar.properties.isAlphabetic {
                lexName()
            } else if scalar == "'" || scalar == "\"" {
                try lexString(quote: scalar)
            } else {
                try lexSymbol(&balance)
            }
        }
    }

    private func matchTagEnd(isBlock: Bool) -> Int? {
        if isBlock {
            if matches("+%}", at: position) { return position + 3 }
            if matches("-%}", at: position) { return skipWhitespace(from: position + 3) }
            if matches("%}", at: position) {
                return position + 2 < source.count && source[position + 2] == "\n" ? position + 3 : position + 2
            }
            return nil
        }
        if matches("-}}", at: position) { return skipWhitespace(from: position + 3) }
        if matches("}}", at: position) { return position + 2 }
        return nil
    }

    private mutating func lexSymbol(_ balance: inout [Unicode.Scalar]) throws {
        if position + 1 < source.count {
            var pair = String.UnicodeScalarView()
            pair.append(source[position])
            pair.append(source[position + 1])
            let text = String(pair)
            if Self.twoCharacterSymbols.contains(text) {
                tokens.append(TemplateToken(kind: .symbol(text), line: line))
                position += 2
                return
            }
        }
        let scalar = source[position]
        guard Self.oneCharacterSymbols.contains(scalar) else {
            throw TemplateError.syntax("unexpected char '\(Character(scalar))' at \(position)", line: line)
        }
        switch scalar {
        case "{": balance.append("}")
        case "(": balance.append(")")
        case "[": balance.append("]")
        case "}", ")", "]":
            guard let expected = balance.popLast() else {
                throw TemplateError.syntax("unexpected '\(Character(scalar))'", line: line)
            }
            if expected != scalar {
                throw TemplateError.syntax(
                    "unexpected '\(Character(scalar))', expected '\(Character(expected))'", line: line)
            }
        default: break
        }
        tokens.append(TemplateToken(kind: .symbol(String(Character(scalar))), line: line))
        position += 1
    }

    private mutating func lexName() {
        let start = position
        while position < source.count {
            let scalar = source[position]
            let properties = scalar.properties
            guard
                scalar == "_" || properties.isAlphabetic || ("0"..."9").contains(scalar)
                    || properties.generalCategory == .nonspacingMark
                    || properties.generalCategory == .spacingMark
                    || properties.generalCategory == .decimalNumber
            else { break }
            position += 1
        }
        var name = String.UnicodeScalarView()
        name.append(contentsOf: source[start..<position])
        tokens.append(TemplateToken(kind: .name(String(name)), line: line))
    }
}
