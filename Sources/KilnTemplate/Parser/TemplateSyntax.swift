/// The parsed form of a template: statements holding expressions. Immutable once parsed, so one
/// ``ChatTemplate`` can render on many threads at once.

/// A literal written in the template source.
enum TemplateConstant: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
}

/// An argument list at a call site: `f(a, b, key=c, *rest, **options)`.
struct TemplateArguments: Sendable {
    var positional: [TemplateExpression] = []
    var keywords: [(name: String, value: TemplateExpression)] = []
    var spreadPositional: TemplateExpression?
    var spreadKeywords: TemplateExpression?

    static let empty = TemplateArguments()
}

enum BinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case floorDivide = "//"
    case modulo = "%"
    case power = "**"
}

enum ComparisonOperator: String, Sendable {
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case contains = "in"
    case notContains = "not in"
}

indirect enum TemplateExpression: Sendable {
    case constant(TemplateConstant)
    case name(String)
    case list([TemplateExpression])
    case tuple([TemplateExpression])
    case dict([(key: TemplateExpression, value: TemplateExpression)])
    /// `object.name`: Python attribute first, then item.
    case attribute(TemplateExpression, String)
    /// `object[key]`: item first, then attribute.
    case item(TemplateExpression, TemplateExpression)
    case slice(TemplateExpression, start: TemplateExpression?, stop: TemplateExpression?, step: TemplateExpression?)
    case call(TemplateExpression, TemplateArguments)
    /// `value | name(arguments)`; `filter` is nil for a name no builtin filter has, which fails
    /// when evaluated (jinja2 defers that error when the filter sits in a conditional branch).
    case filter(TemplateExpression, name: String, filter: BuiltinFilter?, TemplateArguments)
    /// `value is [not] name arguments`.
    case test(TemplateExpression, name: String, test: BuiltinTest?, TemplateArguments, negated: Bool)
    case negate(TemplateExpression)
    case plus(TemplateExpression)
    case not(TemplateExpression)
    case binary(BinaryOperator, TemplateExpression, TemplateExpression)
    case and(TemplateExpression, TemplateExpression)
    case or(TemplateExpression, TemplateExpression)
    /// A chain `a < b <= c` evaluated as Python does.
    case compare(TemplateExpression, [(ComparisonOperator, TemplateExpression)])
    /// `a ~ b ~ c`: string conversion and concatenation.
    case concat([TemplateExpression])
    /// `then if condition else otherwise`; without `else` the result is undefined.
    case conditional(condition: TemplateExpression, then: TemplateExpression, otherwise: TemplateExpression?)
}

/// The left side of `{% set %}` and the variables of `{% for %}`.
indirect enum AssignTarget: Sendable {
    case name(String)
    case tuple([AssignTarget])
    /// `namespace.attribute`, only valid on a `namespace()` object.
    case namespaceAttribute(String, String)
}

/// A macro parameter with its optional default value.
struct MacroParameter: Sendable {
    let name: String
    let defaultValue: TemplateExpression?
}

/// `{% macro name(parameters) %}body{% endmacro %}`, also the body of a `{% call %}` block.
final class MacroDefinition: Sendable {
    let name: String
    let parameters: [MacroParameter]
    let body: [TemplateStatement]
    /// Whether the body mentions `varargs`, `kwargs` or `caller`: only then does the macro accept
    /// extra positional or keyword arguments, or a call block.
    let usesVarargs: Bool
    let usesKwargs: Bool
    let usesCaller: Bool

    init(
        name: String, parameters: [MacroParameter], body: [TemplateStatement],
        usesVarargs: Bool, usesKwargs: Bool, usesCaller: Bool
    ) {
        self.name = name
        self.parameters = parameters
        self.body = body
        self.usesVarargs = usesVarargs
        self.usesKwargs = usesKwargs
        self.usesCaller = usesCaller
    }
}

struct ForLoop: Sendable {
    let target: AssignTarget
    let iterable: TemplateExpression
    let condition: TemplateExpression?
    let body: [TemplateStatement]
    let elseBody: [TemplateStatement]
    let isRecursive: Bool
    let line: Int
}

/// A filter applied by `{% filter %}` blocks and `{% set x | filter %}`.
struct FilterApplication: Sendable {
    let name: String
    let filter: BuiltinFilter?
    let arguments: TemplateArguments
}

indirect enum TemplateStatement: Sendable {
    case text(String)
    case output(TemplateExpression, line: Int)
    case ifChain([(condition: TemplateExpression, body: [TemplateStatement])], elseBody: [TemplateStatement], line: Int)
    case forLoop(ForLoop)
    case assign(AssignTarget, TemplateExpression, line: Int)
    case assignBlock(AssignTarget, filters: [FilterApplication], body: [TemplateStatement], line: Int)
    case macro(MacroDefinition)
    /// `{% call(parameters) callee(arguments) %}body{% endcall %}`.
    case callBlock(TemplateExpression, caller: MacroDefinition, line: Int)
    case filterBlock([FilterApplication], body: [TemplateStatement], line: Int)
    case with([(AssignTarget, TemplateExpression)], body: [TemplateStatement], line: Int)
    /// `{% generation %}` of Hugging Face's environment: renders its body unchanged, in its own scope.
    case generation([TemplateStatement], line: Int)
    case breakLoop
    case continueLoop
}
