/// Python's `str` operations, exactly: code-point semantics (not Swift's grapheme clusters and
/// canonical equivalence), Python's definition of whitespace, line breaks and case.
enum PythonText {
    /// `str.isspace()` for one code point.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// The line boundaries of `str.splitlines()`.
    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func equal(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    /// Appends `text` to `output`, replacing each code point for which `replacement` returns a
    /// string; runs of unchanged text are copied in bulk.
    @inline(__always)
    static func appendEscaped(_ text: String, to output: inout String, _ replacement: (Unicode.Scalar) -> String?) {
        let scalars = text.unicodeScalars
        var runStart = scalars.startIndex
        var index = runStart
        while index != scalars.endIndex {
            if let replaced = replacement(scalars[index]) {
                if runStart != index { output += Substring(scalars[runStart..<index]) }
                output += replaced
                scalars.formIndex(after: &index)
                runStart = index
            } else {
                scalars.formIndex(after: &index)
            }
        }
        if runStart != scalars.endIndex { output += Substring(scalars[runStart...]) }
    }

    /// Code-point order, which is also UTF-8 byte order.
    static func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    // MARK: Searching

    /// Byte offsets of `needle` in `haystack` (UTF-8), non-overlapping, left to right.
    static func byteOccurrences(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0, limit: Int = .max) -> [Int] {
        var result: [Int] = []
        guard !needle.isEmpty else { return result }
        var cursor = start
        while result.count < limit, let found = firstByteIndex(of: needle, in: haystack, from: cursor) {
            result.append(found)
            cursor = found + needle.count
        }
        return result
    }

    /// The first byte offset of `needle` in `haystack` at or after `start`.
    /// Short needles are compared directly; long ones use Knuth–Morris–Pratt so that a hostile
    /// pattern cannot make the search quadratic.
    static func firstByteIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        let n = haystack.count, m = needle.count
        if m == 0 { return start <= n ? start : nil }
        guard n - start >= m else { return nil }
        if m <= 16 {
            let first = needle[0]
            var index = start
            while index <= n - m {
                if haystack[index] == first {
                    var k = 1
                    while k < m, haystack[index + k] == needle[k] { k += 1 }
                    if k == m { return index }
                }
                index += 1
            }
            return nil
        }
        var failure = [Int](repeating: 0, count: m)
        var k = 0
        for i in 1..<m {
            while k > 0, needle[i] != needle[k] { k = failure[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            failure[i] = k
        }
        k = 0
        for i in start..<n {
            while k > 0, haystack[i] != needle[k] { k = failure[k - 1] }
            if haystack[i] == needle[k] { k += 1 }
            if k == m { return i - m + 1 }
        }
        return nil
    }

    static func contains(_ haystack: String, _ needle: String) -> Bool {
        firstByteIndex(of: Array(needle.utf8), in: Array(haystack.utf8)) != nil
    }

    static func count(_ haystack: String, _ needle: String) -> Int {
        if needle.isEmpty { return length(haystack) + 1 }
        return byteOccurrences(of: Array(needle.utf8), in: Array(haystack.utf8)).count
    }

    /// `str.find`: the code-point index of the first occurrence, or -1.
    static func find(_ haystack: String, _ needle: String) -> Int {
        let bytes = Array(haystack.utf8)
        guard let offset = firstByteIndex(of: Array(needle.utf8), in: bytes) else { return -1 }
        return codePointCount(bytes[0..<offset])
    }

    /// `str.rfind`: the code-point index of the last occurrence, or -1.
    static func rfind(_ haystack: String, _ needle: String) -> Int {
        let bytes = Array(haystack.utf8), pattern = Array(needle.utf8)
        guard bytes.count >= pattern.count else { return -1 }
        var index = bytes.count - pattern.count
        while index >= 0 {
            if bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                return codePointCount(bytes[0..<index])
            }
            index -= 1
        }
        return -1
    }

    private static func codePointCount(_ bytes: ArraySlice<UInt8>) -> Int {
        bytes.reduce(0) { $0 + (($1 & 0xC0) == 0x80 ? 0 : 1) }
    }

    static func hasPrefix(_ s: String, _ prefix: String) -> Bool { s.utf8.starts(with: prefix.utf8) }

    static func hasSuffix(_ s: String, _ suffix: String) -> Bool {
        s.utf8.count >= suffix.utf8.count && s.utf8.reversed().starts(with: suffix.utf8.reversed())
    }

    // MARK: Transforming

    /// `str.replace`; a result over `maxBytes` is refused before it is built.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1, maxBytes: Int = .max) throws -> String {
        let limit = count < 0 ? Int.max : count
        func tooLarge() -> TemplateError {
            TemplateError(.limitExceeded, "replace() result would exceed \(maxBytes) bytes")
        }
        if old.isEmpty {
            let insertions = min(limit, length(s) + 1)
            if new.utf8.count > 0, insertions > (maxBytes - s.utf8.count) / new.utf8.count { throw tooLarge() }
            // Python inserts `new` before every code point and at the end.
            var result = String.UnicodeScalarView()
            var inserted = 0
            for scalar in s.unicodeScalars {
                if inserted < limit {
                    result.append(contentsOf: new.unicodeScalars)
                    inserted += 1
                }
                result.append(scalar)
            }
            if inserted < limit { result.append(contentsOf: new.unicodeScalars) }
            return String(result)
        }
        let bytes = Array(s.utf8), pattern = Array(old.utf8)
        let positions = byteOccurrences(of: pattern, in: bytes, limit: limit)
        guard !positions.isEmpty else { return s }
        let growth = new.utf8.count - pattern.count
        if growth > 0, positions.count > (maxBytes - bytes.count) / growth { throw tooLarge() }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + positions.count * max(0, new.utf8.count - pattern.count))
        var cursor = 0
        for position in positions {
            result.append(contentsOf: bytes[cursor..<position])
            result.append(contentsOf: new.utf8)
            cursor = position + pattern.count
        }
        result.append(contentsOf: bytes[cursor...])
        return String(decoding: result, as: UTF8.self)
    }

    /// `str.strip(chars)`, `lstrip`, `rstrip`; `chars == nil` strips whitespace.
    static func strip(_ s: String, chars: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let scalars = Array(s.unicodeScalars)
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ scalar: Unicode.Scalar) -> Bool { set?.contains(scalar) ?? isWhitespace(scalar) }
        var start = 0, end = scalars.count
        if leading { while start < end, strippable(scalars[start]) { start += 1 } }
        if trailing { while end > start, strippable(scalars[end - 1]) { end -= 1 } }
        if start == 0, end == scalars.count { return s }
        return string(scalars[start..<end])
    }

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on runs of whitespace and drops empty parts.
    /// Without `maxsplit`, splitting stops with an error past `maxParts` parts.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1, maxParts: Int = .max) throws -> [String] {
        var limit = maxSplit < 0 ? Int.max : maxSplit
        let partsCapped = limit >= maxParts
        if partsCapped { limit = maxParts }
        guard let separator else {
            var parts: [String] = []
            let scalars = Array(s.unicodeScalars)
            var index = 0
            while index < scalars.count {
                while index < scalars.count, isWhitespace(scalars[index]) { index += 1 }
                guard index < scalars.count else { break }
                if parts.count == limit {
                    if partsCapped { throw tooManyParts(maxParts) }
                    var end = scalars.count
                    while end > index, isWhitespace(scalars[end - 1]) { end -= 1 }
                    parts.append(string(scalars[index..<end]))
                    break
                }
                let start = index
                while index < scalars.count, !isWhitespace(scalars[index]) { index += 1 }
                parts.append(string(scalars[start..<index]))
            }
            return parts
        }
        let bytes = Array(s.utf8), pattern = Array(separator.utf8)
        var parts: [String] = []
        var cursor = 0
        let positions = byteOccurrences(of: pattern, in: bytes, limit: limit)
        if partsCapped, positions.count == limit { throw tooManyParts(maxParts) }
        for position in positions {
            parts.append(String(decoding: bytes[cursor..<position], as: UTF8.self))
            cursor = position + pattern.count
        }
        parts.append(String(decoding: bytes[cursor...], as: UTF8.self))
        return parts
    }

    private static func tooManyParts(_ maxParts: Int) -> TemplateError {
        TemplateError(.limitExceeded, "split() would produce more than \(maxParts) parts")
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, separator: String?, maxSplit: Int = -1, maxParts: Int = .max) throws -> [String] {
        if maxSplit < 0 { return try split(s, separator: separator, maxParts: maxParts) }
        let reversedParts = try split(
            string(s.unicodeScalars.reversed()),
            separator: separator.map { string($0.unicodeScalars.reversed()) },
            maxSplit: maxSplit)
        return reversedParts.reversed().map { string($0.unicodeScalars.reversed()) }
    }

    /// `str.splitlines(keepends)`, refusing more than `maxParts` lines.
    static func splitLines(_ s: String, keepEnds: Bool = false, maxParts: Int = .max) throws -> [String] {
        let scalars = Array(s.unicodeScalars)
        var lines: [String] = []
        var start = 0, index = 0
        while index < scalars.count {
            guard isLineBreak(scalars[index]) else {
                index += 1
                continue
            }
            var end = index + 1
            if scalars[index] == "\r", end < scalars.count, scalars[end] == "\n" { end += 1 }
            lines.append(string(scalars[start..<(keepEnds ? end : index)]))
            if lines.count > maxParts { throw tooManyParts(maxParts) }
            start = end
            index = end
        }
        if start < scalars.count { lines.append(string(scalars[start...])) }
        return lines
    }

    static func upper(_ s: String) -> String { s.uppercased() }

    /// Transforms an ASCII-only string through its bytes (the common, fast case); nil when the
    /// string has other code points.
    static func mapASCII(_ s: String, _ transform: (inout [UInt8]) -> Void) -> String? {
        var bytes = Array(s.utf8)
        guard !bytes.contains(where: { $0 >= 0x80 }) else { return nil }
        transform(&bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `scalar` belongs to a word in the sense of Python's regular expression `\w`.
    @inline(__always)
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let byte = UInt8(scalar.value)
            return (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F
        }
        return scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }
    static func lower(_ s: String) -> String { s.lowercased() }

    /// `str.capitalize()`: first code point title-cased, the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return first.properties.titlecaseMapping + string(s.unicodeScalars.dropFirst()).lowercased()
    }

    /// `str.title()`: a letter following a cased letter is lower-cased, any other letter title-cased.
    static func title(_ s: String) -> String {
        if let ascii = mapASCII(
            s,
            { bytes in
                var previousCased = false
                for index in bytes.indices {
                    let byte = bytes[index]
                    let isLetter = (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A
                    if isLetter { bytes[index] = previousCased ? byte | 0x20 : byte & ~0x20 }
                    previousCased = isLetter
                }
            })
        {
            return ascii
        }
        var result = ""
        var previousCased = false
        for scalar in s.unicodeScalars {
            let properties = scalar.properties
            result += previousCased ? properties.lowercaseMapping : properties.titlecaseMapping
            previousCased = properties.isCased
        }
        return result
    }

    static func swapCase(_ s: String) -> String {
        var result = ""
        for scalar in s.unicodeScalars {
            if scalar.properties.isUppercase {
                result += scalar.properties.lowercaseMapping
            } else if scalar.properties.isLowercase {
                result += scalar.properties.uppercaseMapping
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// `str.islower()` / `str.isupper()`: at least one cased character and none of the other case.
    static func isLower(_ s: String) -> Bool {
        var sawCased = false
        for scalar in s.unicodeScalars {
            if scalar.properties.isUppercase || scalar.properties.generalCategory == .titlecaseLetter { return false }
            if scalar.properties.isLowercase { sawCased = true }
        }
        return sawCased
    }

    static func isUpper(_ s: String) -> Bool {
        var sawCased = false
        for scalar in s.unicodeScalars {
            if scalar.properties.isLowercase || scalar.properties.generalCategory == .titlecaseLetter { return false }
            if scalar.properties.isUppercase { sawCased = true }
        }
        return sawCased
    }
}
