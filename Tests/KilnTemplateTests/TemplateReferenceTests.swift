import Foundation
import KilnTemplate
import Testing

/// Every case of the shared reference (48 real chat templates, 7 conversations each, rendered by
/// Python's jinja2 3.1.6 as Hugging Face's apply_chat_template does) must render byte for byte
/// the same, or fail where jinja2 failed.
@Suite struct TemplateReferenceTests {
    @Test func allReferenceCasesAreLoaded() {
        #expect(TemplateFixtures.referenceCases.count == 336)
        #expect(TemplateFixtures.referenceCases.allSatisfy { !$0.source.isEmpty })
        #expect(TemplateFixtures.referenceCases.filter { $0.error != nil }.count == 18)
    }

    @Test(arguments: TemplateFixtures.referenceCases)
    func rendersLikeJinja(_ testCase: TemplateFixtures.Case) throws {
        let result = Result {
            try ChatTemplate(source: testCase.source, environment: TemplateFixtures.referenceEnvironment)
                .render(context: testCase.context)
        }
        if let expectedError = testCase.error {
            guard case .failure(let error) = result else {
                Issue.record("rendered, but jinja2 raised \(expectedError)")
                return
            }
            let templateError = try #require(error as? TemplateError)
            // Kiln words these errors as jinja2 does: same class and message.
            #expect(templateError.description == expectedError)
        } else {
            let rendered = try result.get()
            #expect(rendered == testCase.expected)
        }
    }
}
