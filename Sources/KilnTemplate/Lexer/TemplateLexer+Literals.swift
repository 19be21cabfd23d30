/// Number and string literals inside tags, with Python's spelling rules.
extension TemplateLexer {
    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    /// Length of `(\d+_)*\d+` at `index`, or 0.
    private func digitRunLength(at index: Int, in source: [Unicode.Scalar]) -> Int {
        var cursor = index
        guard cursor < source.count, Self.isDigit(source[cursor]) else { return 0 }
        while cursor < source.count {
            if Self.isDigit(source[cursor]) {
                cursor += 1
            } else if source[cursor] == "_", cursor + 1 < source.count, Self.isDigit(source[cursor + 1]) {
                cursor += 1
            } else {
                break
            }
        }
        return cursor - index
    }

    mutating func lexNumber() throws {
        let source = sourceScalars
        let start = position
        let previousIsDot = start > 0 && source[start - 1] == "."
        if !previousIsDot, let end = floatEnd(at: start, in: source) {
            let text = String(String.UnicodeScalarView(source[start..<end])).replacingUnderscores()
            guard let value = Double(text) else {
                throw TemplateError.syntax("invalid float literal '\(text)'", line: currentLine)
            }
            append(.float(value))
            position = end
            return
        }
        var end = start
        var radix = 10
        if source[start] == "0", start + 1 < source.count,
            let prefixRadix = ["b": 2, "B": 2, "o": 8, "O": 8, "x": 16, "X": 16][Character(source[start + 1])]
        {
            var cursor = start + 2
            var digits = 0
            while cursor < source.count {
                let scalar = source[cursor]
                if scalar == "_", cursor + 1 < source.count, Character(source[cursor + 1]).hexDigitValue.map({ $0 < prefixRadix }) == true {
                    cursor += 1
                    continue
                }
                guard let digit = Character(scalar).hexDigitValue, digit < prefixRadix else { break }
                digits += 1
                cursor += 1
            }
            if digits > 0 {
                radix = prefixRadix
                end = cursor
            }
        }
        if radix == 10 {
            if source[start] == "0" {
                end = start + 1
                while end + 1 < source.count, source[end] == "_" || source[end] == "0" {
                    if source[end] == "_", source[end + 1] != "0" { break }
                    end += 1
                }
                if end < source.count, source[end] == "0" { end += 1 }
            } else {
                end = start + digitRunLength(at: start, in: source)
            }
        }
        var text = String(String.UnicodeScalarView(source[start..<end])).replacingUnderscores()
        if radix != 10 { text.removeFirst(2) }
        guard let value = Int(text, radix: radix) else {
            throw TemplateError(.overflow, "integer literal too large: \(text)", line: currentLine)
        }
        append(.integer(value))
        position = end
    }

    private func floatEnd(at start: Int, in source: [Unicode.Scalar]) -> Int? {
        let whole = digitRunLength(at: start, in: source)
        guard whole > 0 else { return nil }
        var cursor = start + whole
        var hasFraction = false
        if cursor < source.count, source[cursor] == "." {
            let fraction = digitRunLength(at: cursor + 1, in: source)
            if fraction > 0 {
                hasFraction = true
                cursor += 1 + fraction
            }
        }
        if cursor < source.count, source[cursor] == "e" || source[cursor] == "E" {
            var exponentStart = cursor + 1
            if exponentStart < source.count, source[exponentStart] == "+" || source[exponentStart] == "-" {
                exponentStart += 1
            }
            let exponent = digitRunLength(at: exponentStart, in: source)
            if exponent > 0 { return exponentStart + exponent }
        }
        return hasFraction ? cursor : nil
    }

    mutating func lexString(quote: Unicode.Scalar) throws {
        let source = sourceScalars
        let startLine = currentLine
        var cursor = position + 1
        var value = String.UnicodeScalarView()
        while true {
            guard cursor < source.count else {
                throw TemplateError.syntax("unexpected char '\(Character(quote))' at \(position)", line: startLine)
            }
            let scalar = source[cursor]
            if scalar == quote { break }
            if scalar == "\n" { advanceLine() }
            guard scalar == "\\" else {
                value.append(scalar)
                cursor += 1
                continue
            }
            guard cursor + 1 < source.count else {
                throw TemplateError.syntax("unexpected char '\(Character(quote))' at \(position)", line: startLine)
            }
            cursor = try unescape(at: cursor + 1, in: source, into: &value)
        }
        append(.string(String(value)))
        position = cursor + 1
    }

    /// Decodes one escape (what follows a backslash) as Python's `unicode-escape` codec does;
    /// returns the index after it.
    private mutating func unescape(at index: Int, in source: [Unicode.Scalar], into value: inout String.UnicodeScalarView) throws -> Int {
        let escape = source[index]
        let simple: [Unicode.Scalar: Unicode.Scalar] = [
            "\\": "\\", "'": "'", "\"": "\"", "a": "\u{07}", "b": "\u{08}", "f": "\u{0C}",
            "n": "\n", "r": "\r", "t": "\t", "v": "\u{0B}",
        ]
        if let replacement = simple[escape] {
            value.append(replacement)
            return index + 1
        }
        if escape == "\n" {
            advanceLine()
            return index + 1
        }
        if ("0"..."7").contains(escape) {
            var code: UInt32 = 0
            var cursor = index
            while cursor < source.count, cursor < index + 3, ("0"..."7").contains(source[cursor]) {
                code = code * 8 + (source[cursor].value - 48)
                cursor += 1
            }
            value.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            return cursor
        }
        let hexLength: Int? = escape == "x" ? 2 : escape == "u" ? 4 : escape == "U" ? 8 : nil
        if let hexLength {
            var code: UInt32 = 0
            for offset in 1...hexLength {
                guard index + offset < source.count, let digit = Character(source[index + offset]).hexDigitValue else {
                    throw TemplateError.syntax("truncated \\\(Character(escape))XX escape", line: currentLine)
                }
                code = code * 16 + UInt32(digit)
            }
            guard let scalar = Unicode.Scalar(code) else {
                if (0xD800...0xDFFF).contains(code) {
                    value.append("\u{FFFD}")
                    return index + hexLength + 1
                }
                throw TemplateError.syntax("illegal Unicode character", line: currentLine)
            }
            value.append(scalar)
            return index + hexLength + 1
        }
        if escape == "N" {
            throw TemplateError.syntax("\\N{...} escapes are not supported", line: currentLine)
        }
        // Unknown escapes keep their backslash, as in Python.
        value.append("\\")
        value.append(escape)
        return index + 1
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(unicodeScalars.filter { $0 != "_" }.map(Character.init))
    }
}
