/// The fixed GBNF rules a JSON Schema grammar is built from (JSON's own syntax, as llama.cpp's
/// `json-schema-to-grammar` writes it: optional whitespace after each token, at most two newlines and
/// 20 indentation characters, so that a model cannot pad forever) and helpers to write GBNF text.
enum SchemaPrimitives {
    /// Rule name → body. Each is emitted once, when first used.
    static let rules: [String: String] = [
        "space": #"| " " | "\n"{1,2} [ \t]{0,20}"#,
        "boolean": #"("true" | "false") space"#,
        "null": #""null" space"#,
        "char": #"[^"\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})"#,
        "string": #""\"" char* "\"" space"#,
        "integral-part": "[0] | [1-9] [0-9]{0,15}",
        "decimal-part": "[0-9]{1,16}",
        "integer": #"("-"? integral-part) space"#,
        "number": #"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space"#,
        "value": "object | array | string | number | boolean | null",
        "object": #""{" space ( string ":" space value ("," space string ":" space value)* )? "}" space"#,
        "array": #""[" space ( value ("," space value)* )? "]" space"#,
        "date": #"[0-9]{4} "-" ( [0] [1-9] | [1] [0-2] ) "-" ( [0] [1-9] | [1-2] [0-9] | [3] [0-1] )"#,
        "time":
            #"([01] [0-9] | [2] [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | ( "+" | "-" ) ( [01] [0-9] | [2] [0-3] ) ":" [0-5] [0-9] )"#,
        "date-time": #"date "T" time"#,
        "date-string": #""\"" date "\"" space"#,
        "time-string": #""\"" time "\"" space"#,
        "date-time-string": #""\"" date-time "\"" space"#,
        "uuid": #""\"" [0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12} "\"" space"#,
        // A practical subset of RFC 5322: dot-atoms on both sides of one '@', a dotted domain whose
        // labels start and end with a letter or digit (their 63-character limit is not enforced: a
        // bounded repetition costs the mask walk far more than the rule is worth).
        "email-atom": #"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+"#,
        "email-label": #"[a-zA-Z0-9] ([a-zA-Z0-9-]* [a-zA-Z0-9])?"#,
        "email": #""\"" email-atom ("." email-atom)* "@" email-label ("." email-label)+ "\"" space"#,
    ]

    /// The rules each fixed rule refers to, so that emitting one emits what it needs.
    static let dependencies: [String: [String]] = [
        "boolean": ["space"], "null": ["space"], "string": ["char", "space"],
        "integer": ["integral-part", "space"], "number": ["integral-part", "decimal-part", "space"],
        "value": ["object", "array", "string", "number", "boolean", "null"],
        "object": ["string", "space", "value"], "array": ["value", "space"],
        "date-time": ["date", "time"], "date-string": ["date", "space"], "time-string": ["time", "space"],
        "date-time-string": ["date-time", "space"], "uuid": ["space"], "email": ["email-atom", "email-label", "space"],
    ]

    /// `text` as a GBNF literal.
    static func literal(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + hex(scalar.value, digits: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// A code point inside a GBNF character class.
    static func classCharacter(_ value: UInt32) -> String {
        if value < 0x20 || value == 0x7F || value == 0x5C || value == 0x5D || value == 0x5B || value == 0x2D || value == 0x5E || value == 0x22 {
            return value <= 0xFF ? "\\x" + hex(value, digits: 2) : "\\u" + hex(value, digits: 4)
        }
        if value >= 0xD800 && value <= 0xDFFF { return "\\u" + hex(value, digits: 4) }
        return String(UnicodeScalar(value).map(Character.init) ?? " ")
    }

    /// A rule name made of the characters GBNF allows.
    static func ruleName(_ text: String) -> String {
        var name = ""
        for scalar in text.unicodeScalars {
            if (scalar.value >= 0x30 && scalar.value <= 0x39) || (scalar.value >= 0x41 && scalar.value <= 0x5A)
                || (scalar.value >= 0x61 && scalar.value <= 0x7A)
            {
                name.unicodeScalars.append(scalar)
            } else {
                name += "-"
            }
        }
        return name.isEmpty ? "r" : name
    }
}
