import ArgumentParser
import Foundation
import KilnTemplate
import KilnText

/// `kiln render-template --template FILE --context FILE.json`: renders a chat template the way
/// the server will, for checking a model's template by hand.
struct RenderTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-template",
        abstract: "Render a Jinja chat template with a JSON context and print the result.",
        discussion: """
            The context file holds a JSON object of variables, typically messages, tools, \
            add_generation_prompt, bos_token and eos_token. A template error prints its message \
            and exits with status 1.
            """)

    @Option(name: .long, help: "The chat template file (Jinja).")
    var template: String

    @Option(name: .long, help: "A JSON file holding the object of template variables.")
    var context: String

    @Option(name: .long, help: "Fix strftime_now() at this time, read in UTC (ISO 8601, e.g. 2026-01-15T09:30:00Z), instead of the local time now.")
    var now: String?

    @Option(name: .long, help: "Evaluation step budget.")
    var maxSteps: Int = TemplateLimits().maxSteps

    @Option(name: .long, help: "Largest rendered output, in bytes.")
    var maxOutputBytes: Int = TemplateLimits().maxOutputBytes

    func run() throws {
        let source = try read(template, as: "template")
        let contextData = Data(try read(context, as: "context").utf8)
        var environment = TemplateEnvironment()
        if let now {
            guard let date = ISO8601DateFormatter().date(from: now) else {
                throw ValidationError("--now must be an ISO 8601 date-time such as 2026-01-15T09:30:00Z")
            }
            environment = .fixed(date)
        }
        var limits = TemplateLimits()
        limits.maxSteps = maxSteps
        limits.maxOutputBytes = maxOutputBytes
        do {
            let chatTemplate = try ChatTemplate(source: source, limits: limits, environment: environment)
            let rendered = try chatTemplate.render(jsonContext: contextData)
            FileHandle.standardOutput.write(Data(rendered.utf8))
        } catch let error as TemplateError {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func read(_ path: String, as role: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("cannot read the \(role) file \(path)\n".utf8))
            throw ExitCode(1)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            FileHandle.standardError.write(Data("the \(role) file \(path) is not UTF-8 text\n".utf8))
            throw ExitCode(1)
        }
        return text
    }
}
