import Foundation
import KilnTemplate
import Testing

/// The public surface: building a context, parsing JSON, the clock, errors, concurrency.
@Suite struct TemplateAPITests {
    static let chatTemplate = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
        {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    @Test func rendersAContextBuiltFromLiterals() throws {
        let template = try ChatTemplate(source: Self.chatTemplate)
        let output = try template.render(context: [
            "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi"]],
            "add_generation_prompt": true,
        ])
        #expect(output == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func jsonContextRendersLikeLiteralContext() throws {
        let template = try ChatTemplate(source: Self.chatTemplate)
        let json = #"{"messages": [{"role": "user", "content": "Hi \u00e9 \ud83d\ude80"}], "add_generation_prompt": false}"#
        let fromJSON = try template.render(jsonContext: Data(json.utf8))
        let fromLiterals = try template.render(context: [
            "messages": [["role": "user", "content": "Hi é 🚀"]], "add_generation_prompt": false,
        ])
        #expect(fromJSON == fromLiterals)
        #expect(fromJSON == "<|im_start|>user\nHi é 🚀<|im_end|>\n")
    }

    @Test func jsonKeepsKeyOrderAndNumberKinds() throws {
        let value = try TemplateValue(jsonString: #"{"z": 1, "a": 1.0, "m": [1e2, -0, 2.5], "n": null, "b": true, "z": 2}"#)
        guard case .object(let pairs) = value else {
            Issue.record("expected an object")
            return
        }
        #expect(pairs.map(\.key) == ["z", "a", "m", "n", "b"])
        #expect(value["z"] == .int(2))
        #expect(value["a"] == .double(1.0))
        #expect(value["m"] == .array([.double(100), .int(0), .double(2.5)]))
        let printed = try ChatTemplate(source: "{{ v }} {{ v|tojson }}").render(context: ["v": value])
        #expect(
            printed == "{'z': 2, 'a': 1.0, 'm': [100.0, 0, 2.5], 'n': None, 'b': True} "
                + #"{"z": 2, "a": 1.0, "m": [100.0, 0, 2.5], "n": null, "b": true}"#)
    }

    @Test func jsonAcceptsPythonSpecialFloats() throws {
        #expect(
            try TemplateValue(jsonString: "[NaN, Infinity, -Infinity]")
                .description(using: "{{ v|tojson }}") == "[NaN, Infinity, -Infinity]")
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "01", "[1] 2", "{\"a\": \"\u{01}\"}"])
    func invalidJSONIsAValueError(_ text: String) {
        let error = #expect(throws: TemplateError.self) { try TemplateValue(jsonString: text) }
        #expect(error?.kind == .value)
    }

    @Test func contextMustBeAJSONObject() {
        let error = #expect(throws: TemplateError.self) {
            try TemplateValue.context(fromJSON: Data("[1, 2]".utf8))
        }
        #expect(error?.kind == .value)
    }

    @Test func strftimeNowUsesTheInjectedClock() throws {
        let date = Date(timeIntervalSince1970: 1_768_469_400)  // 2026-01-15 09:30:00 UTC
        let source = "{{ strftime_now('%A %d %B %Y, %H:%M') }}"
        let utc = try ChatTemplate(source: source, environment: .fixed(date)).render(context: [:])
        #expect(utc == "Thursday 15 January 2026, 09:30")
        let tokyo = try ChatTemplate(source: source, environment: .fixed(date, timeZone: TimeZone(identifier: "Asia/Tokyo")!))
            .render(context: [:])
        #expect(tokyo == "Thursday 15 January 2026, 18:30")
        // The default environment reads the real clock.
        let year = try ChatTemplate(source: "{{ strftime_now('%Y') }}").render(context: [:])
        #expect(Int(year).map { $0 >= 2025 } == true)
    }

    @Test func raiseExceptionIsATemplateError() {
        let error = #expect(throws: TemplateError.self) {
            try ChatTemplate(source: "{{ raise_exception('Only user and assistant roles are supported') }}").render(context: [:])
        }
        #expect(error?.kind == .raised)
        #expect(error?.description == "TemplateError: Only user and assistant roles are supported")
    }

    @Test func syntaxErrorsCarryTheirLine() {
        let error = #expect(throws: TemplateError.self) {
            try ChatTemplate(source: "line one\n{% if x %}\n{{ 1 + }}\n{% endif %}")
        }
        #expect(error?.kind == .syntax)
        #expect(error?.line == 3)
        #expect(error?.description == "TemplateSyntaxError: unexpected 'end of print statement' (line 3)")
    }

    @Test func undefinedPrintsNothingButFailsWhenUsed() throws {
        #expect(try ChatTemplate(source: "[{{ tools }}]").render(context: [:]) == "[]")
        let error = #expect(throws: TemplateError.self) {
            try ChatTemplate(source: "{{ tools[0].name }}").render(context: [:])
        }
        #expect(error?.description == "UndefinedError: 'tools' is undefined")
    }

    @Test func trimAndLStripBlocksAreOn() throws {
        let source = "{% if true %}\n  <a>\n  {%- for m in messages %}\n    {{ m.role }}: {{ m.content }}\n  {% endfor %}\n{% endif %}"
        let output = try ChatTemplate(source: source).render(context: [
            "messages": [["role": "user", "content": "Hi"], ["role": "assistant", "content": "Yo"]]
        ])
        // Rendered by jinja2 3.1.6 with trim_blocks and lstrip_blocks.
        #expect(output == "  <a>    user: Hi\n    assistant: Yo\n")
    }

    @Test func generationBlockRendersItsBody() throws {
        let source = "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}|{% endfor %}"
        let output = try ChatTemplate(source: source).render(context: ["messages": [["content": "a"], ["content": "b"]]])
        #expect(output == "a|b|")
    }

    @Test func rendersConcurrentlyWithIdenticalResults() async throws {
        let template = try ChatTemplate(
            source: "{% for i in range(n) %}{{ i ~ ',' }}{% endfor %}{{ strftime_now('%Y') }}",
            environment: .fixed(Date(timeIntervalSince1970: 0)))
        let expected = (0..<200).map { "\($0)," }.joined() + "1970"
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<16 {
                group.addTask { try template.render(context: ["n": 200]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outputs.count == 16)
        #expect(outputs.allSatisfy { $0 == expected })
    }
}

extension TemplateValue {
    fileprivate func description(using source: String) throws -> String {
        try ChatTemplate(source: source).render(context: ["v": self])
    }
}
