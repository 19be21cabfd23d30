import Foundation
import KilnTemplate
import Testing

/// Kiln's feature corpus (`engine-cases.json`): one small template per engine feature, rendered
/// by jinja2 3.1.6 in Hugging Face's environment. Output must be equal; where jinja2 raised,
/// Kiln must raise the same class of error.
@Suite struct TemplateEngineTests {
    @Test func corpusIsLoaded() {
        #expect(TemplateFixtures.engineCases.count >= 230)
    }

    @Test(arguments: TemplateFixtures.engineCases)
    func rendersLikeJinja(_ testCase: TemplateFixtures.Case) throws {
        let result = Result {
            try ChatTemplate(source: testCase.source, environment: TemplateFixtures.referenceEnvironment)
                .render(context: testCase.context)
        }
        if let expectedError = testCase.error {
            guard case .failure(let error) = result else {
                Issue.record("rendered \(String(describing: try? result.get())), but jinja2 raised \(expectedError)")
                return
            }
            let templateError = try #require(error as? TemplateError)
            let expectedClass = String(expectedError.prefix(while: { $0 != ":" }))
            // Python's own SyntaxError (break outside a loop) is a template syntax error here.
            let accepted = expectedClass == "SyntaxError" ? "TemplateSyntaxError" : expectedClass
            #expect(templateError.kind.rawValue == accepted, "\(templateError) vs \(expectedError)")
        } else {
            #expect(try result.get() == testCase.expected)
        }
    }
}
