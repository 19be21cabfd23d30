/// Padding and alignment as Python's `str.center/ljust/rjust/zfill` and format specs do it.
enum StringPadding {
    enum Alignment { case left, right, center, afterSign }

    static func pad(_ text: String, width: Int, fill: String, alignment: Alignment) -> String {
        let length = PythonText.length(text)
        guard width > length else { return text }
        let padding = width - length
        switch alignment {
        case .left: return text + String(repeating: fill, count: padding)
        case .right, .afterSign: return String(repeating: fill, count: padding) + text
        case .center:
            // CPython: left = padding / 2 + (padding & width & 1).
            let left = padding / 2 + (padding & width & 1)
            return String(repeating: fill, count: left) + text + String(repeating: fill, count: padding - left)
        }
    }

    static func zeroFill(_ text: String, width: Int) -> String {
        let length = PythonText.length(text)
        guard width > length else { return text }
        var body = text
        var sign = ""
        if let first = body.first, first == "+" || first == "-" {
            sign = String(first)
            body.removeFirst()
        }
        return sign + String(repeating: "0", count: width - length) + body
    }

    static func groupThousands(_ digits: String) -> String {
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        var whole = Array(parts[0])
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + String(whole.suffix(3)) + grouped
            whole.removeLast(3)
        }
        grouped = String(whole) + grouped
        return parts.count > 1 ? grouped + "." + parts[1] : grouped
    }
}
