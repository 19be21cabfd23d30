import Foundation
import KilnTemplate
import Testing

/// Hostile templates must fail with a `.limitExceeded` (or the sandbox's) error, never hang,
/// exhaust memory or overflow the stack.
@Suite struct TemplateLimitsTests {
    private func renderError(
        _ source: String, limits: TemplateLimits = TemplateLimits(),
        context: [String: TemplateValue] = [:]
    ) -> TemplateError? {
        do {
            _ = try ChatTemplate(source: source, limits: limits).render(context: context)
            return nil
        } catch {
            return error as? TemplateError
        }
    }

    @Test(arguments: [
        // 10^15 iterations of a nested loop.
        "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}{% set x = 1 %}{% endfor %}{% endfor %}{% endfor %}",
        // A cheap operation repeated on a large string.
        "{% set s = 'x' * 4000000 %}{% for i in range(100000) %}{% set y = s|upper %}{% endfor %}",
        // Membership tests on a large list.
        "{% set l = range(100000)|list %}{% for i in range(100000) %}{% if -1 in l %}{% endif %}{% endfor %}",
        // Sorting a large list again and again.
        "{% set l = range(100000)|list %}{% for i in range(100000) %}{% set y = l|sort %}{% endfor %}",
    ])
    func stepBudgetStopsLongRenderings(_ source: String) {
        let error = renderError(source)
        #expect(error?.kind == .limitExceeded)
        #expect(error?.message.contains("step budget") == true)
    }

    @Test(arguments: [
        // Exponential growth by doubling.
        "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        // Exponential growth by replacement.
        "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s.replace('a', 'aa') %}{% endfor %}",
        // One huge allocation, refused before it happens.
        "{{ 'a' * 1000000000 }}",
        "{{ '%1000000000s' % 'a' }}",
        "{{ '{:>1000000000}'.format('a') }}",
        "{{ 'a'|center(1000000000) }}",
        "{{ 'a\nb'|indent(1000000000) }}",
        "{{ [1]|tojson(indent=1000000000) }}",
        "{{ [[[[[[1]]]]]]|tojson(indent=1000000) }}",
        "{% set s = 'x' * 8000000 %}{{ [s] * 1000 }}",
        "{% set s = 'x' * 8000000 %}{{ ('%s' * 1000) % ((s,) * 1000) }}",
        "{{ strftime_now('%c' * 4000000) }}",
        // Output that keeps growing.
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    ])
    func sizeLimitsStopGrowth(_ source: String) {
        #expect(renderError(source)?.kind == .limitExceeded)
    }

    @Test func outputLimitIsASetting() throws {
        var limits = TemplateLimits()
        limits.maxOutputBytes = 100
        let template = try ChatTemplate(source: "{% for i in range(50) %}{{ i }},{% endfor %}", limits: limits)
        let error = #expect(throws: TemplateError.self) { try template.render(context: [:]) }
        #expect(error?.kind == .limitExceeded)
        // The same template fits the default limit.
        let fits = try ChatTemplate(source: "{% for i in range(50) %}{{ i }},{% endfor %}").render(context: [:])
        #expect(fits.hasPrefix("0,1,2,"))
    }

    @Test func stepBudgetIsASetting() throws {
        var limits = TemplateLimits()
        limits.maxSteps = 1000
        let source = "{% for i in range(1000) %}{{ i }}{% endfor %}"
        #expect(renderError(source, limits: limits)?.kind == .limitExceeded)
        #expect(renderError(source) == nil)
    }

    @Test(arguments: [
        "{% set l = [1] %}{% set ns = namespace(l=l) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
        "{{ ([0] * 1000000000)|length }}",
        "{% set s = 'a' * 8000000 %}{{ s.split('a')|length }}",
        "{% set s = 'a' * 8000000 %}{% for c in s %}{% endfor %}",
    ])
    func collectionLimitStopsHugeLists(_ source: String) {
        #expect(renderError(source)?.kind == .limitExceeded)
    }

    @Test func rangeIsLimitedLikeJinjaSandbox() {
        let error = renderError("{{ range(1000000)|length }}")
        #expect(error?.kind == .overflow)
        #expect(error?.message.contains("MAX_RANGE (100000)") == true)
    }

    @Test(arguments: [
        // Unbounded recursion.
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% for item in [[[]]] recursive %}{{ loop([item]) }}{% endfor %}",
        // Values nested ever deeper.
        "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
        "{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}",
        // Iterators chained ever deeper.
        "{% set ns = namespace(g=[1]) %}{% for i in range(100000) %}{% set ns.g = ns.g|map('string') %}{% endfor %}{{ ns.g|list }}",
    ])
    func recursionAndNestingAreBounded(_ source: String) {
        #expect(renderError(source)?.kind == .limitExceeded)
    }

    @Test(arguments: [
        "{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}",
        String(repeating: "{% if true %}", count: 10_000) + "x" + String(repeating: "{% endif %}", count: 10_000),
        "{{ x" + String(repeating: ".a", count: 100_000) + " }}",
        "{{ x" + String(repeating: "|string", count: 100_000) + " }}",
        "{{ 1" + String(repeating: " + 1", count: 100_000) + " }}",
        "{{ " + String(repeating: "not ", count: 100_000) + "1 }}",
        "{{ " + String(repeating: "-", count: 100_000) + "1 }}",
        "{{ [" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "] }}",
    ])
    func deeplyNestedSourceIsRejectedWhileParsing(_ source: String) {
        let error = #expect(throws: TemplateError.self) { try ChatTemplate(source: source) }
        #expect(error?.kind == .limitExceeded)
    }

    @Test func sourceSizeIsLimited() {
        var limits = TemplateLimits()
        limits.maxSourceBytes = 1000
        let error = #expect(throws: TemplateError.self) {
            try ChatTemplate(source: String(repeating: "x", count: 1001), limits: limits)
        }
        #expect(error?.kind == .limitExceeded)
    }

    @Test func deeplyNestedJSONContextIsRejected() {
        let json = Data((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8)
        let error = #expect(throws: TemplateError.self) { try TemplateValue(jsonData: json) }
        #expect(error?.kind == .limitExceeded)
    }

    @Test func selfReferencingNamespacePrintsAndReleases() throws {
        let output = try ChatTemplate(source: "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").render(context: [:])
        #expect(output == "<Namespace {'me': <Namespace {...}>}>")
    }

    /// Recursion up to the default limits must fit in a 1 MiB stack (a secondary thread's
    /// default is 512 KiB on macOS, 8 MiB on Linux).
    @Test func deepestAllowedRecursionFitsInOneMebibyteStack() throws {
        // 98 levels of macro, loop, set block and filter, within the default call depth of 100.
        let bounded = """
            {% macro f(n) %}{% for i in [1] %}{% if n > 0 %}{% set x %}{{ f(n - 1) }}{% endset %}\
            {{ x|trim }}{% endif %}{% endfor %}{% endmacro %}{{ f(98) }}done
            """
        let unbounded = "{% macro g() %}{{ g() }}{% endmacro %}{{ g() }}"
        let results = try renderOnSmallStack([bounded, unbounded].map { try ChatTemplate(source: $0) })
        #expect(try results[0].get() == "done")
        guard case .failure(let error) = results[1] else {
            Issue.record("expected the unbounded recursion to fail")
            return
        }
        #expect((error as? TemplateError)?.kind == .limitExceeded)
    }

    private func renderOnSmallStack(_ templates: [ChatTemplate]) throws -> [Result<String, Error>] {
        nonisolated(unsafe) var results: [Result<String, Error>] = []
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            results = templates.map { template in Result { try template.render(context: [:]) } }
            finished.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
        finished.wait()
        return results
    }
}
