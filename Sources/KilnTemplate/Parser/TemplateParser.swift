/// Turns tokens into statements, following jinja2's grammar. Expression parsing lives in
/// `TemplateParser+Expressions.swift`.
struct TemplateParser {
    private(set) var tokens: [TemplateToken]
    var index = 0
    let maxDepth: Int
    /// Current nesting of blocks and expressions, bounded by `maxDepth` so that hostile source
    /// cannot overflow the stack of the recursive-descent parser or of the renderer.
    var depth = 0
    /// Whether we are directly inside an `if` (or a conditional expression) of the current frame:
    /// jinja2 reports an unknown filter or test there only if it is reached at render time.
    var inConditional = false
    /// Loops enclosing the current statement within the current macro body (for break/continue).
    var loopDepth = 0
    /// Names mentioned while parsing, to know whether a macro uses `varargs`, `kwargs`, `caller`.
    var referencedNames: Set<String> = []

    init(tokens: [TemplateToken], maxDepth: Int) {
        self.tokens = tokens
        self.maxDepth = maxDepth
    }

    static func parse(_ source: String, limits: TemplateLimits) throws -> [TemplateStatement] {
        guard source.utf8.count <= limits.maxSourceBytes else {
            throw TemplateError(.limitExceeded, "template source is larger than \(limits.maxSourceBytes) bytes")
        }
        var parser = TemplateParser(tokens: try TemplateLexer.tokenize(source), maxDepth: limits.maxNestingDepth)
        let (body, endTag) = try parser.parseBody(until: [])
        if let endTag {
            throw TemplateError.syntax("Encountered unknown tag '\(endTag)'.", line: parser.current.line)
        }
        return body
    }

    // MARK: Token stream

    var current: TemplateToken { tokens[index] }

    func peek(_ offset: Int = 1) -> TemplateToken {
        tokens[min(index + offset, tokens.count - 1)]
    }

    mutating func advance() -> TemplateToken {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    mutating func skipSymbol(_ symbol: String) -> Bool {
        guard current.isSymbol(symbol) else { return false }
        index += 1
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard current.isName(name) else { return false }
        index += 1
        return true
    }

    mutating func expectSymbol(_ symbol: String) throws {
        guard skipSymbol(symbol) else { throw unexpected(expected: "'\(symbol)'") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let name) = current.kind else { throw unexpected(expected: "name") }
        index += 1
        return name
    }

    mutating func expectBlockEnd() throws {
        guard case .blockEnd = current.kind else { throw unexpected(expected: "end of statement block") }
        index += 1
    }

    func unexpected(expected: String? = nil) -> TemplateError {
        if case .end = current.kind {
            return .syntax("Unexpected end of template.", line: current.line)
        }
        if let expected {
            return .syntax("expected token \(expected), got '\(current.display)'", line: current.line)
        }
        return .syntax("unexpected '\(current.display)'", line: current.line)
    }

    mutating func enter() throws {
        depth += 1
        if depth > maxDepth {
            throw TemplateError(.limitExceeded, "template nests deeper than \(maxDepth) levels", line: current.line)
        }
    }

    mutating func leave() { depth -= 1 }

    // MARK: Statements

    /// Parses statements until a block tag whose name is in `endTags`; consumes that tag's
    /// `{%` and name and returns it, leaving the rest of the tag to the caller.
    mutating func parseBody(until endTags: Set<String>) throws -> ([TemplateStatement], String?) {
        try enter()
        defer { leave() }
        var body: [TemplateStatement] = []
        while true {
            switch current.kind {
            case .text(let text):
                index += 1
                body.append(.text(text))
            case .variableBegin:
                let line = advance().line
                let expression = try parseTuple()
                guard case .variableEnd = current.kind else { throw unexpected(expected: "end of print statement") }
                index += 1
                body.append(.output(expression, line: line))
            case .blockBegin:
                index += 1
                if case .name(let name) = current.kind, endTags.contains(name) {
                    index += 1
                    return (body, name)
                }
                body.append(try parseStatement())
            case .end:
                if !endTags.isEmpty {
                    let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw TemplateError.syntax(
                        "Unexpected end of template. Jinja was looking for the following tags: \(expected).",
                        line: current.line)
                }
                return (body, nil)
            default:
                throw unexpected()
            }
        }
    }

    private mutating func parseStatement() throws -> TemplateStatement {
        let line = current.line
        guard case .name(let keyword) = current.kind else {
            throw TemplateError.syntax("tag name expected", line: line)
        }
        index += 1
        switch keyword {
        case "if": return try parseIf(line: line)
        case "for": return try parseFor(line: line)
        case "set": return try parseSet(line: line)
        case "macro": return try parseMacro(line: line)
        case "call": return try parseCallBlock(line: line)
        case "filter": return try parseFilterBlock(line: line)
        case "with": return try parseWith(line: line)
        case "generation":
            try expectBlockEnd()
            let body = try parseNestedFrame { try $0.parseBody(until: ["endgeneration"]) }
            try expectBlockEnd()
            return .generation(body, line: line)
        case "break", "continue":
            guard loopDepth > 0 else {
                throw TemplateError.syntax("'\(keyword)' outside loop", line: line)
            }
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop : .continueLoop
        default:
            throw TemplateError.syntax("Encountered unknown tag '\(keyword)'.", line: line)
        }
    }

    /// Parses in a new jinja2 frame: conditionals no longer defer unknown-filter errors.
    private mutating func parseNestedFrame<T>(_ body: (inout TemplateParser) throws -> (T, String?)) throws -> T {
        let saved = inConditional
        inConditional = false
        defer { inConditional = saved }
        return try body(&self).0
    }

    private mutating func parseIf(line: Int) throws -> TemplateStatement {
        let saved = inConditional
        inConditional = true
        defer { inConditional = saved }
        var branches: [(condition: TemplateExpression, body: [TemplateStatement])] = []
        var condition = try parseTuple(withConditional: false)
        while true {
            try expectBlockEnd()
            let (body, endTag) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch endTag {
            case "elif":
                condition = try parseTuple(withConditional: false)
            case "else":
                try expectBlockEnd()
                let (elseBody, _) = try parseBody(until: ["endif"])
                try expectBlockEnd()
                return .ifChain(branches, elseBody: elseBody, line: line)
            default:
                try expectBlockEnd()
                return .ifChain(branches, elseBody: [], line: line)
            }
        }
    }

    private mutating func parseFor(line: Int) throws -> TemplateStatement {
        let target = try parseAssignTarget(allowNamespace: false, endNames: ["in"])
        guard skipName("in") else { throw unexpected(expected: "'in'") }
        let iterable = try parseTuple(withConditional: false, endNames: ["recursive"])
        // The loop's own frame: its condition and body are not "inside an if" any more.
        let savedConditional = inConditional
        inConditional = false
        var condition: TemplateExpression?
        if skipName("if") { condition = try parseExpression() }
        let isRecursive = skipName("recursive")
        try expectBlockEnd()
        loopDepth += 1
        let (body, endTag) = try parseBody(until: ["endfor", "else"])
        loopDepth -= 1
        inConditional = savedConditional
        var elseBody: [TemplateStatement] = []
        if endTag == "else" {
            try expectBlockEnd()
            elseBody = try parseBody(until: ["endfor"]).0
        }
        try expectBlockEnd()
        return .forLoop(
            ForLoop(
                target: target, iterable: iterable, condition: condition, body: body,
                elseBody: elseBody, isRecursive: isRecursive, line: line))
    }

    private mutating func parseSet(line: Int) throws -> TemplateStatement {
        let target = try parseAssignTarget(allowNamespace: true, endNames: [])
        if skipSymbol("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .assign(target, value, line: line)
        }
        let filters = try parseFilterApplications(required: false)
        try expectBlockEnd()
        let body = try parseNestedFrame { try $0.parseBody(until: ["endset"]) }
        try expectBlockEnd()
        return .assignBlock(target, filters: filters, body: body, line: line)
    }

    private mutating func parseMacro(line: Int) throws -> TemplateStatement {
        let name = try expectName()
        let parameters = try parseParameters()
        try expectBlockEnd()
        let definition = try parseMacroBody(name: name, parameters: parameters, endTag: "endmacro")
        return .macro(definition)
    }

    /// Parses `(a, b=default, ...)` of a macro or call block.
    private mutating func parseParameters() throws -> [MacroParameter] {
        var parameters: [MacroParameter] = []
        try expectSymbol("(")
        while !current.isSymbol(")") {
            if !parameters.isEmpty { try expectSymbol(",") }
            if current.isSymbol(")") { break }
            let name = try expectName()
            var defaultValue: TemplateExpression?
            if skipSymbol("=") { defaultValue = try parseExpression() }
            parameters.append(MacroParameter(name: name, defaultValue: defaultValue))
        }
        try expectSymbol(")")
        return parameters
    }

    private mutating func parseMacroBody(name: String, parameters: [MacroParameter], endTag: String) throws -> MacroDefinition {
        let savedNames = referencedNames, savedLoops = loopDepth
        referencedNames = []
        loopDepth = 0
        let body = try parseNestedFrame { try $0.parseBody(until: [endTag]) }
        try expectBlockEnd()
        let names = referencedNames
        referencedNames = savedNames.union(names)
        loopDepth = savedLoops
        return MacroDefinition(
            name: name, parameters: parameters, body: body,
            usesVarargs: names.contains("varargs"), usesKwargs: names.contains("kwargs"),
            usesCaller: names.contains("caller"))
    }

    private mutating func parseCallBlock(line: Int) throws -> TemplateStatement {
        let parameters = current.isSymbol("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call else { throw TemplateError.syntax("expected call", line: line) }
        try expectBlockEnd()
        let caller = try parseMacroBody(name: "caller", parameters: parameters, endTag: "endcall")
        return .callBlock(call, caller: caller, line: line)
    }

    private mutating func parseFilterBlock(line: Int) throws -> TemplateStatement {
        let filters = try parseFilterApplications(required: true)
        try expectBlockEnd()
        let body = try parseNestedFrame { try $0.parseBody(until: ["endfilter"]) }
        try expectBlockEnd()
        return .filterBlock(filters, body: body, line: line)
    }

    private mutating func parseWith(line: Int) throws -> TemplateStatement {
        var assignments: [(AssignTarget, TemplateExpression)] = []
        while !isBlockEnd {
            if !assignments.isEmpty { try expectSymbol(",") }
            let target = try parseAssignTarget(allowNamespace: false, endNames: [])
            try expectSymbol("=")
            assignments.append((target, try parseExpression()))
        }
        try expectBlockEnd()
        let body = try parseNestedFrame { try $0.parseBody(until: ["endwith"]) }
        try expectBlockEnd()
        return .with(assignments, body: body, line: line)
    }

    var isBlockEnd: Bool {
        if case .blockEnd = current.kind { return true }
        return false
    }

    /// `name | filter(args) | other` after `{% filter` or `{% set x`.
    private mutating func parseFilterApplications(required: Bool) throws -> [FilterApplication] {
        var filters: [FilterApplication] = []
        var first = required
        while first || skipSymbol("|") {
            first = false
            var name = try expectName()
            while skipSymbol(".") { name += "." + (try expectName()) }
            let arguments = current.isSymbol("(") ? try parseCallArguments() : .empty
            filters.append(FilterApplication(name: name, filter: try resolveFilter(name), arguments: arguments))
        }
        return filters
    }

    /// Names, parenthesized tuples of names, or `namespace.attribute` (in `set` only).
    mutating func parseAssignTarget(allowNamespace: Bool, endNames: Set<String>) throws -> AssignTarget {
        var targets: [AssignTarget] = []
        var sawComma = false
        while true {
            if !targets.isEmpty {
                guard skipSymbol(",") else { break }
                sawComma = true
                if isBlockEnd || current.isSymbol(")") || current.isSymbol("=") { break }
                if case .name(let name) = current.kind, endNames.contains(name) { break }
            }
            targets.append(try parseSingleTarget(allowNamespace: allowNamespace))
        }
        return targets.count == 1 && !sawComma ? targets[0] : .tuple(targets)
    }

    private mutating func parseSingleTarget(allowNamespace: Bool) throws -> AssignTarget {
        if skipSymbol("(") {
            let inner = try parseAssignTarget(allowNamespace: false, endNames: [])
            try expectSymbol(")")
            return inner
        }
        let line = current.line
        let name = try expectName()
        if allowNamespace, skipSymbol(".") {
            return .namespaceAttribute(name, try expectName())
        }
        if ["true", "false", "none", "True", "False", "None"].contains(name) {
            throw TemplateError.syntax("Can't assign to constant", line: line)
        }
        return .name(name)
    }
}
