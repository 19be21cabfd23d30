/// Python's `str()` and `repr()` of template values, which is what `{{ value }}`, `~` and
/// `|string` print: `None`, `True`, `1.0`, `['a', {'k': (1,)}]`.
extension Value {
    /// Python's `str(value)`; undefined prints as nothing. For values of bounded size only;
    /// the renderer uses ``pythonString(limit:)``.
    var pythonString: String {
        (try? pythonString(limit: .max)) ?? ""
    }

    /// Python's `repr(value)`, for values of bounded size.
    var pythonRepr: String {
        (try? pythonRepr(limit: .max)) ?? ""
    }

    /// Python's `str(value)`, refusing to build more than `limit` bytes.
    func pythonString(limit: Int) throws -> String {
        switch self {
        case .undefined: return ""
        case .string(let text), .markup(let text): return text
        case .int(let number): return String(number)
        case .double(let number): return PythonRepr.float(number)
        default: return try pythonRepr(limit: limit)
        }
    }

    /// Python's `repr(value)`, refusing to build more than `limit` bytes.
    func pythonRepr(limit: Int) throws -> String {
        var output = ""
        var visiting: [ObjectIdentifier] = []
        try appendRepr(to: &output, visiting: &visiting, limit: limit)
        return output
    }

    /// `repr` cut to about 200 bytes, for error messages.
    var shortRepr: String {
        var output = ""
        var visiting: [ObjectIdentifier] = []
        if (try? appendRepr(to: &output, visiting: &visiting, limit: 200)) == nil {
            return String(output.prefix(200)) + "..."
        }
        return output
    }

    private func appendRepr(to output: inout String, visiting: inout [ObjectIdentifier], limit: Int) throws {
        if output.utf8.count > limit {
            throw TemplateError(.limitExceeded, "a value's text exceeds \(limit) bytes")
        }
        switch self {
        case .undefined: output += "Undefined"
        case .none: output += "None"
        case .bool(let flag): output += flag ? "True" : "False"
        case .int(let number): output += String(number)
        case .double(let number): output += PythonRepr.float(number)
        case .string(let text): PythonRepr.appendString(text, to: &output)
        case .markup(let text):
            output += "Markup("
            PythonRepr.appendString(text, to: &output)
            output += ")"
        case .list(let list):
            output += list.isTuple ? "(" : "["
            for (position, item) in list.items.enumerated() {
                if position > 0 { output += ", " }
                try item.appendRepr(to: &output, visiting: &visiting, limit: limit)
            }
            if list.isTuple, list.items.count == 1 { output += "," }
            output += list.isTuple ? ")" : "]"
        case .dict(let dict):
            output += "{"
            for (position, (key, value)) in dict.pairs.enumerated() {
                if position > 0 { output += ", " }
                try key.appendRepr(to: &output, visiting: &visiting, limit: limit)
                output += ": "
                try value.appendRepr(to: &output, visiting: &visiting, limit: limit)
            }
            output += "}"
        case .namespace(let namespace):
            let identity = ObjectIdentifier(namespace)
            output += "<Namespace "
            if visiting.contains(identity) {
                output += "{...}>"
                return
            }
            visiting.append(identity)
            output += "{"
            for (position, (name, value)) in namespace.attributes.enumerated() {
                if position > 0 { output += ", " }
                PythonRepr.appendString(name, to: &output)
                output += ": "
                try value.appendRepr(to: &output, visiting: &visiting, limit: limit)
            }
            output += "}>"
            visiting.removeLast()
        case .callable(let callable): output += callable.displayText
        case .iterator(let iterator): output += "<\(iterator.typeName) object>"
        case .loop(let loop): output += "<LoopContext \(loop.index)/\(loop.length)>"
        }
    }
}
