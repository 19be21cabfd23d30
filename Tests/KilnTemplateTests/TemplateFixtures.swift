import Foundation
import KilnTemplate
import Testing

/// Loads the chat-template fixtures (`Tests/Fixtures/chat-templates`), located from this file.
enum TemplateFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat-templates")

    /// strftime_now() in the reference renderings: 2026-01-15 09:30:00.
    static let referenceEnvironment: TemplateEnvironment = {
        var components = DateComponents()
        (components.year, components.month, components.day) = (2026, 1, 15)
        (components.hour, components.minute, components.second) = (9, 30, 0)
        let utc = TimeZone(identifier: "UTC")!
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        return .fixed(calendar.date(from: components)!, timeZone: utc)
    }()

    /// One rendering to reproduce: a template, its variables, and either the output or the
    /// error jinja2 produced.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let source: String
        let context: [String: TemplateValue]
        let expected: String?
        let error: String?
        var testDescription: String { name }
    }

    /// The shared reference cases (real templates × conversations).
    static let referenceCases: [Case] = loadCases(file: "cases.json") { object in
        let templateName = object["template"]?.fixtureString ?? ""
        let url = directory.appendingPathComponent("templates").appendingPathComponent(templateName)
        let source = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return ("\(templateName) / \(object["case"]?.fixtureString ?? "")", source)
    }

    /// Kiln's own feature cases, rendered by jinja2 (see PROVENANCE.md).
    static let engineCases: [Case] = loadCases(file: "engine-cases.json") { object in
        (object["name"]?.fixtureString ?? "", object["template"]?.fixtureString ?? "")
    }

    private static func loadCases(file: String, nameAndSource: (TemplateValue) -> (String, String)) -> [Case] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(file)),
            case .array(let items)? = try? TemplateValue(jsonData: data)
        else { return [] }
        return items.map { object in
            let (name, source) = nameAndSource(object)
            var context: [String: TemplateValue] = [:]
            if case .object(let pairs)? = object["context"] {
                for (key, value) in pairs { context[key] = value }
            }
            return Case(
                name: name, source: source, context: context,
                expected: object["expected"]?.fixtureString, error: object["error"]?.fixtureString)
        }
    }
}

extension TemplateValue {
    var fixtureString: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
