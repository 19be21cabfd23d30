import Foundation
import KilnTemplate

/// libFuzzer entry point for chat templates: the input is template source, parsed and rendered
/// against one fixed conversation (system, user, assistant with a tool call, tool result, a
/// tool list, a multi-byte string). Run with `-timeout=10`: with the tight limits below, every
/// rendering must finish in milliseconds, so a slow unit is a limit the renderer fails to count.
///
/// Checked: parse and render either succeed or throw a `TemplateError`; output stays within
/// `maxOutputBytes`; rendering the same template twice gives the same result.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let template: ChatTemplate
    do {
        template = try ChatTemplate(source: source, limits: fuzzLimits, environment: fixedClock)
    } catch is TemplateError {
        return 0
    } catch {
        preconditionFailure("parsing threw a non-TemplateError: \(error)")
    }
    let first = render(template)
    if case .success(let text) = first {
        precondition(text.utf8.count <= fuzzLimits.maxOutputBytes, "output of \(text.utf8.count) bytes over the limit")
    }
    precondition(render(template) == first, "two renderings of one template differ")
    return 0
}

private func render(_ template: ChatTemplate) -> Result<String, TemplateError> {
    do {
        return .success(try template.render(context: fuzzContext))
    } catch let error as TemplateError {
        return .failure(error)
    } catch {
        preconditionFailure("rendering threw a non-TemplateError: \(error)")
    }
}

/// Limits far below the defaults, so that hostile loops, recursion and string growth hit them
/// within a few milliseconds.
private let fuzzLimits = TemplateLimits(
    maxSourceBytes: 64 << 10, maxSteps: 200_000, maxOutputBytes: 64 << 10, maxCallDepth: 20,
    maxNestingDepth: 32, maxCollectionItems: 10_000, maxRange: 1_000)

private let fixedClock = TemplateEnvironment.fixed(Date(timeIntervalSince1970: 1_768_435_200))

private let weatherTool: TemplateValue = [
    "type": "function",
    "function": [
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": [
            "type": "object",
            "properties": [
                "city": ["type": "string", "description": "City name"],
                "unit": ["type": "string", "enum": ["celsius", "fahrenheit"]],
            ],
            "required": ["city"],
        ],
    ],
]

private let fuzzContext: [String: TemplateValue] = [
    "bos_token": "<s>",
    "eos_token": "</s>",
    "add_generation_prompt": true,
    "enable_thinking": false,
    "tools": [weatherTool],
    "messages": [
        ["role": "system", "content": "Be brief."],
        ["role": "user", "content": "What's the weather in Paris? Ünïcödé ✓ 𝄞"],
        ["role": "assistant", "content": "", "tool_calls": [
            ["id": "call_1", "type": "function",
             "function": ["name": "get_weather", "arguments": ["city": "Paris", "days": 2, "scale": 1.5]]],
        ]],
        ["role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 18}"],
        ["role": "assistant", "content": "It is 18 °C.", "reasoning_content": "The tool said 18."],
        ["role": "user", "content": ["type": "text", "text": "Thanks"], "extra": nil],
    ],
]
