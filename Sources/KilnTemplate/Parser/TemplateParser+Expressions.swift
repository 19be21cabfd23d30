/// Expressions, with jinja2's precedence (lowest first): conditional `if/else`, `or`, `and`,
/// `not`, comparisons and `in`, `+ -`, `~`, `* / // %`, `**`, unary `- +`, then primaries with
/// their postfix `.attr`, `[item]`, `(call)`, `| filter` and `is test`.
extension TemplateParser {
    /// A comma-separated list becomes a tuple; a single expression stays itself.
    mutating func parseTuple(
        withConditional: Bool = true, endNames: Set<String> = [],
        explicitParentheses: Bool = false
    ) throws -> TemplateExpression {
        var items: [TemplateExpression] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard skipSymbol(",") else { break }
                sawComma = true
            }
            if isTupleEnd(endNames: endNames) { break }
            items.append(withConditional ? try parseExpression() : try parseOr())
            if !current.isSymbol(",") { break }
        }
        if !sawComma {
            if let single = items.first { return single }
            if !explicitParentheses {
                throw TemplateError.syntax("Expected an expression, got '\(current.display)'", line: current.line)
            }
        }
        return .tuple(items)
    }

    private func isTupleEnd(endNames: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .end: return true
        case .symbol(let symbol): return symbol == ")"
        case .name(let name): return endNames.contains(name)
        default: return false
        }
    }

    mutating func parseExpression(withConditional: Bool = true) throws -> TemplateExpression {
        try enter()
        defer { leave() }
        return withConditional ? try parseConditional() : try parseOr()
    }

    private mutating func parseConditional() throws -> TemplateExpression {
        var expression = try parseOr()
        while current.isName("if") {
            index += 1
            let saved = inConditional
            inConditional = true
            defer { inConditional = saved }
            let condition = try parseOr()
            var otherwise: TemplateExpression?
            if skipName("else") { otherwise = try parseConditional() }
            expression = .conditional(condition: condition, then: expression, otherwise: otherwise)
        }
        return expression
    }

    private mutating func parseOr() throws -> TemplateExpression {
        var left = try parseAnd()
        var levels = 0
        defer { depth -= levels }
        while skipName("or") {
            try deepen(&levels)
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws -> TemplateExpression {
        var left = try parseNot()
        var levels = 0
        defer { depth -= levels }
        while skipName("and") {
            try deepen(&levels)
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws -> TemplateExpression {
        if skipName("not") {
            try enter()
            defer { leave() }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> TemplateExpression {
        let left = try parseMath1()
        var operations: [(ComparisonOperator, TemplateExpression)] = []
        while true {
            if operations.count > maxDepth {
                throw TemplateError(.limitExceeded, "comparison chain longer than \(maxDepth)", line: current.line)
            }
            if case .symbol(let symbol) = current.kind, let op = ComparisonOperator(rawValue: symbol),
                op != .contains, op != .notContains
            {
                index += 1
                operations.append((op, try parseMath1()))
            } else if skipName("in") {
                operations.append((.contains, try parseMath1()))
            } else if current.isName("not"), peek().isName("in") {
                index += 2
                operations.append((.notContains, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations)
    }

    private mutating func parseMath1() throws -> TemplateExpression {
        var left = try parseConcat()
        var levels = 0
        defer { depth -= levels }
        while current.isSymbol("+") || current.isSymbol("-") {
            try deepen(&levels)
            let op: BinaryOperator = advance().isSymbol("+") ? .add : .subtract
            left = .binary(op, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> TemplateExpression {
        var parts = [try parseMath2()]
        while skipSymbol("~") {
            if parts.count > maxDepth * 8 {
                throw TemplateError(.limitExceeded, "too many '~' operands", line: current.line)
            }
            parts.append(try parseMath2())
        }
        return parts.count == 1 ? parts[0] : .concat(parts)
    }

    private mutating func parseMath2() throws -> TemplateExpression {
        var left = try parsePower()
        var levels = 0
        defer { depth -= levels }
        while case .symbol(let symbol) = current.kind, ["*", "/", "//", "%"].contains(symbol) {
            try deepen(&levels)
            index += 1
            left = .binary(BinaryOperator(rawValue: symbol)!, left, try parsePower())
        }
        return left
    }

    private mutating func parsePower() throws -> TemplateExpression {
        var left = try parseUnary()
        var levels = 0
        defer { depth -= levels }
        while skipSymbol("**") {
            try deepen(&levels)
            left = .binary(.power, left, try parseUnary())
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> TemplateExpression {
        try enter()
        defer { leave() }
        var node: TemplateExpression
        if skipSymbol("-") {
            node = .negate(try parseUnary(withFilter: false))
        } else if skipSymbol("+") {
            node = .plus(try parseUnary(withFilter: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpression(node) }
        return node
    }

    private mutating func parsePrimary() throws -> TemplateExpression {
        let token = current
        switch token.kind {
        case .name(let name):
            index += 1
            switch name {
            case "true", "True": return .constant(.bool(true))
            case "false", "False": return .constant(.bool(false))
            case "none", "None": return .constant(.none)
            default:
                referencedNames.insert(name)
                return .name(name)
            }
        case .string(var value):
            index += 1
            while case .string(let next) = current.kind {
                value += next
                index += 1
            }
            return .constant(.string(value))
        case .integer(let value):
            index += 1
            return .constant(.int(value))
        case .float(let value):
            index += 1
            return .constant(.double(value))
        case .symbol("("):
            index += 1
            let inner = try parseTuple(explicitParentheses: true)
            try expectSymbol(")")
            return inner
        case .symbol("["):
            index += 1
            var items: [TemplateExpression] = []
            while !current.isSymbol("]") {
                if !items.isEmpty { try expectSymbol(",") }
                if current.isSymbol("]") { break }
                items.append(try parseExpression())
            }
            try expectSymbol("]")
            return .list(items)
        case .symbol("{"):
            index += 1
            var pairs: [(key: TemplateExpression, value: TemplateExpression)] = []
            while !current.isSymbol("}") {
                if !pairs.isEmpty { try expectSymbol(",") }
                if current.isSymbol("}") { break }
                let key = try parseExpression()
                try expectSymbol(":")
                pairs.append((key, try parseExpression()))
            }
            try expectSymbol("}")
            return .dict(pairs)
        default:
            throw unexpected()
        }
    }

    private mutating func parsePostfix(_ start: TemplateExpression) throws -> TemplateExpression {
        var node = start
        var levels = 0
        defer { depth -= levels }
        while current.isSymbol(".") || current.isSymbol("[") || current.isSymbol("(") {
            try deepen(&levels)
            if current.isSymbol("(") {
                node = .call(node, try parseCallArguments())
            } else {
                node = try parseSubscript(node)
            }
        }
        return node
    }

    private mutating func parseFilterExpression(_ start: TemplateExpression) throws -> TemplateExpression {
        var node = start
        var levels = 0
        defer { depth -= levels }
        while current.isSymbol("|") || current.isName("is") || current.isSymbol("(") {
            try deepen(&levels)
            if current.isSymbol("|") {
                node = try parseFilter(node)
            } else if current.isName("is") {
                node = try parseTest(node)
            } else {
                node = .call(node, try parseCallArguments())
            }
        }
        return node
    }

    private mutating func parseSubscript(_ node: TemplateExpression) throws -> TemplateExpression {
        if skipSymbol(".") {
            let token = advance()
            switch token.kind {
            case .name(let name): return .attribute(node, name)
            case .integer(let value): return .item(node, .constant(.int(value)))
            default: throw TemplateError.syntax("expected name or number", line: token.line)
            }
        }
        try expectSymbol("[")
        var arguments: [TemplateExpression] = []
        while !current.isSymbol("]") {
            if !arguments.isEmpty { try expectSymbol(",") }
            arguments.append(try parseSubscribed(node))
        }
        try expectSymbol("]")
        if arguments.count == 1 {
            if case .slice = arguments[0] { return arguments[0] }
            return .item(node, arguments[0])
        }
        return .item(node, .tuple(arguments))
    }

    /// One subscript: an expression or a slice `start:stop:step` (any part may be omitted).
    private mutating func parseSubscribed(_ node: TemplateExpression) throws -> TemplateExpression {
        var start: TemplateExpression?
        if !current.isSymbol(":") {
            let expression = try parseExpression()
            if !current.isSymbol(":") { return expression }
            start = expression
        }
        index += 1
        var stop: TemplateExpression?
        if !current.isSymbol(":"), !current.isSymbol("]"), !current.isSymbol(",") {
            stop = try parseExpression()
        }
        var step: TemplateExpression?
        if skipSymbol(":"), !current.isSymbol("]"), !current.isSymbol(",") {
            step = try parseExpression()
        }
        return .slice(node, start: start, stop: stop, step: step)
    }

    mutating func parseCallArguments() throws -> TemplateArguments {
        let line = current.line
        try expectSymbol("(")
        var arguments = TemplateArguments()
        var requireComma = false
        func ensure(_ condition: Bool) throws {
            if !condition { throw TemplateError.syntax("invalid syntax for function call expression", line: line) }
        }
        while !current.isSymbol(")") {
            if requireComma {
                try expectSymbol(",")
                if current.isSymbol(")") { break }
            }
            if skipSymbol("*") {
                try ensure(arguments.spreadPositional == nil && arguments.spreadKeywords == nil)
                arguments.spreadPositional = try parseExpression()
            } else if skipSymbol("**") {
                try ensure(arguments.spreadKeywords == nil)
                arguments.spreadKeywords = try parseExpression()
            } else if case .name(let name) = current.kind, peek().isSymbol("=") {
                try ensure(arguments.spreadKeywords == nil)
                index += 2
                arguments.keywords.append((name, try parseExpression()))
            } else {
                try ensure(arguments.spreadPositional == nil && arguments.spreadKeywords == nil && arguments.keywords.isEmpty)
                arguments.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectSymbol(")")
        return arguments
    }

    private mutating func parseFilter(_ start: TemplateExpression) throws -> TemplateExpression {
        var node = start
        var levels = 0
        defer { depth -= levels }
        while skipSymbol("|") {
            try deepen(&levels)
            var name = try expectName()
            while skipSymbol(".") { name += "." + (try expectName()) }
            let arguments = current.isSymbol("(") ? try parseCallArguments() : .empty
            node = .filter(node, name: name, filter: try resolveFilter(name), arguments)
        }
        return node
    }

    private mutating func parseTest(_ node: TemplateExpression) throws -> TemplateExpression {
        index += 1
        let negated = skipName("not")
        let line = current.line
        var name = try expectName()
        while skipSymbol(".") { name += "." + (try expectName()) }
        var arguments = TemplateArguments.empty
        if current.isSymbol("(") {
            arguments = try parseCallArguments()
        } else if startsTestArgument {
            if current.isName("is") {
                throw TemplateError.syntax("You cannot chain multiple tests with is", line: current.line)
            }
            arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        guard let test = BuiltinTest(name: name) else {
            if inConditional {
                return .test(node, name: name, test: nil, arguments, negated: negated)
            }
            throw TemplateError(.assertion, "No test named '\(name)'.", line: line)
        }
        return .test(node, name: name, test: test, arguments, negated: negated)
    }

    /// Whether the token after `is name` starts a single, unparenthesized test argument.
    private var startsTestArgument: Bool {
        switch current.kind {
        case .name(let name): return !["else", "or", "and"].contains(name)
        case .string, .integer, .float: return true
        case .symbol(let symbol): return symbol == "(" || symbol == "[" || symbol == "{"
        default: return false
        }
    }

    /// Counts one more level of the expression tree built by an operator or postfix loop.
    private mutating func deepen(_ levels: inout Int) throws {
        try enter()
        levels += 1
    }

    func resolveFilter(_ name: String) throws -> BuiltinFilter? {
        if let filter = BuiltinFilter(name: name) { return filter }
        if inConditional { return nil }
        throw TemplateError(.assertion, "No filter named '\(name)'.", line: current.line)
    }
}
