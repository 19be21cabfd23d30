/// One token of template source, as produced by ``TemplateLexer``.
struct TemplateToken: Equatable {
    enum Kind: Equatable {
        /// Literal text between tags, already trimmed by whitespace control.
        case text(String)
        case variableBegin
        case variableEnd
        case blockBegin
        case blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation: `+`, `//`, `==`, `(`, `|`, `.`, ...
        case symbol(String)
        case end
    }

    let kind: Kind
    let line: Int

    /// The token as jinja2 names it in "unexpected ..." messages.
    var display: String {
        switch kind {
        case .text: return "template data"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name(let name): return name
        case .string(let value): return "'\(value)'"
        case .integer(let value): return String(value)
        case .float(let value): return String(value)
        case .symbol(let symbol): return symbol
        case .end: return "end of template"
        }
    }

    func isName(_ name: String) -> Bool {
        if case .name(let value) = kind { return value == name }
        return false
    }

    func isSymbol(_ symbol: String) -> Bool {
        if case .symbol(let value) = kind { return value == symbol }
        return false
    }
}
