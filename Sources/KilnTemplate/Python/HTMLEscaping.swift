/// MarkupSafe's escaping, used by `|escape` and by `+` with a `Markup` string.
enum HTMLEscaping {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        PythonText.appendEscaped(text, to: &result) { scalar in
            switch scalar {
            case "&": return "&amp;"
            case "<": return "&lt;"
            case ">": return "&gt;"
            case "\"": return "&#34;"
            case "'": return "&#39;"
            default: return nil
            }
        }
        return result
    }
}
