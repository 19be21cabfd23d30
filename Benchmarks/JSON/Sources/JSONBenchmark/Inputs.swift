import Foundation
import KilnJSON

/// Deterministic inputs: a linear congruential generator, so every run parses the same bytes.
struct Generator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
}

let words = [
    "the", "model", "token", "request", "please", "explain", "why", "a", "server", "should", "stream",
    "answer", "with", "context", "window", "temperature", "of", "and", "to", "in", "JSON", "Swift",
    "inference", "cache", "attention", "layer", "weights", "quantized", "prompt", "user", "assistant",
    "system", "function", "returns", "value", "error", "byte", "offset", "nesting", "limit", "parser",
    "example", "code:", "let", "x", "=", "42;", "{", "}", "(", ")",
]

/// English-like text with the escapes a chat client really sends: newlines, quotes, tabs, backslashes.
func asciiText(_ g: inout Generator, bytes: Int) -> String {
    var out = ""
    while out.utf8.count < bytes {
        out += g.pick(words)
        switch g.next() % 23 {
        case 0: out += ".\n"
        case 1: out += " \"quoted\" "
        case 2: out += "\t"
        case 3: out += " C:\\path\\file "
        default: out += " "
        }
    }
    return out
}

/// A JSON string literal (quotes included) for ASCII text, with JSON's escapes.
func jsonLiteral(_ s: String) -> String { JSONValue.string(s).serialized }

let systemPrompt = "You are a helpful assistant. Answer concisely, show code when it helps, and say when you do not know."

func chatRequestBody(messages: [(String, String)], stream: Bool) -> String {
    let list = messages.map { "{\"role\":\(jsonLiteral($0.0)),\"content\":\(jsonLiteral($0.1))}" }.joined(separator: ",")
    return "{\"model\":\"smollm2-360m-instruct\",\"messages\":[\(list)],\"temperature\":0.7,\"top_p\":0.95,"
        + "\"max_tokens\":256,\"stream\":\(stream),\"stream_options\":{\"include_usage\":true},"
        + "\"stop\":[\"\\n\\nUser:\",\"</s>\"],\"n\":1,\"seed\":42,\"presence_penalty\":0,"
        + "\"frequency_penalty\":0.0,\"user\":\"user-1234\"}"
}

/// (a) A typical chat completion request: a system prompt and three turns, about 1 KB.
func smallRequest() -> [UInt8] {
    var g = Generator(seed: 1)
    let body = chatRequestBody(
        messages: [
            ("system", systemPrompt),
            ("user", asciiText(&g, bytes: 260)),
            ("assistant", asciiText(&g, bytes: 260)),
            ("user", asciiText(&g, bytes: 120)),
        ], stream: true)
    return Array(body.utf8)
}

/// (b) A long conversation: 80 turns of about 1.2 KB each, about 100 KB.
func mediumRequest() -> [UInt8] {
    var g = Generator(seed: 2)
    var messages = [("system", systemPrompt)]
    for i in 0..<80 { messages.append((i % 2 == 0 ? "user" : "assistant", asciiText(&g, bytes: 1_200))) }
    return Array(chatRequestBody(messages: messages, stream: false).utf8)
}

/// (c) One 2 MB prompt, mostly non-ASCII: raw UTF-8 (Latin, Cyrillic, CJK, emoji) mixed with
/// `\uXXXX` escapes (BMP and surrogate pairs), as clients that escape all non-ASCII send it.
func largeUnicodeRequest() -> [UInt8] {
    var g = Generator(seed: 3)
    let raw = ["héllo", "naïve", "Größe", "привет", "мир", "日本語", "のテキスト", "中文字符", "한국어", "😀", "🚀", "Ωμέγα", "عربى"]
    let escaped = [
        "\\u00e9", "\\u00fc", "\\u4e2d\\u6587", "\\u65e5\\u672c", "\\u0416", "\\ud83d\\ude00", "\\ud83e\\udd16",
        "\\u2014", "\\u00a0", "\\u20ac", "\\n", "\\\"", "\\u0041",
    ]
    var prompt = ""
    prompt.reserveCapacity(2_200_000)
    while prompt.utf8.count < 2 * 1024 * 1024 {
        switch g.next() % 3 {
        case 0: prompt += g.pick(raw)
        case 1: prompt += g.pick(escaped)
        default: prompt += g.pick(words)
        }
        prompt += " "
    }
    let body =
        "{\"model\":\"smollm2-360m-instruct\",\"messages\":[{\"role\":\"system\",\"content\":\(jsonLiteral(systemPrompt))},"
        + "{\"role\":\"user\",\"content\":\"\(prompt)\"}],\"max_tokens\":16,\"stream\":false}"
    return Array(body.utf8)
}

/// (d) A safetensors header: `__metadata__` and about 500 tensors of a 55-layer model, with dtype,
/// shape and data_offsets, in the sorted key order safetensors writes.
func safetensorsHeader() -> [UInt8] {
    var entries: [(String, String, [Int])] = [("model.embed_tokens.weight", "BF16", [49152, 960])]
    for layer in 0..<55 {
        let p = "model.layers.\(layer)."
        entries += [
            (p + "input_layernorm.weight", "BF16", [960]),
            (p + "mlp.down_proj.weight", "BF16", [960, 2560]),
            (p + "mlp.gate_proj.weight", "BF16", [2560, 960]),
            (p + "mlp.up_proj.weight", "BF16", [2560, 960]),
            (p + "post_attention_layernorm.weight", "BF16", [960]),
            (p + "self_attn.k_proj.weight", "BF16", [320, 960]),
            (p + "self_attn.o_proj.weight", "BF16", [960, 960]),
            (p + "self_attn.q_proj.weight", "BF16", [960, 960]),
            (p + "self_attn.v_proj.weight", "BF16", [320, 960]),
        ]
    }
    entries.append(("model.norm.weight", "BF16", [960]))
    entries.sort { $0.0 < $1.0 }
    var offset = 0
    var parts = ["\"__metadata__\":{\"format\":\"pt\"}"]
    for (name, dtype, shape) in entries {
        let size = shape.reduce(2, *)
        parts.append(
            "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(offset + size)]}")
        offset += size
    }
    return Array(("{" + parts.joined(separator: ",") + "}").utf8)
}

// MARK: Codable types that a Foundation-based server would decode into and encode from

struct ChatRequest: Codable {
    struct Message: Codable {
        var role: String
        var content: String
        var name: String?
    }
    struct StreamOptions: Codable { var include_usage: Bool? }
    var model: String
    var messages: [Message]
    var temperature: Double?
    var top_p: Double?
    var max_tokens: Int?
    var stream: Bool?
    var stream_options: StreamOptions?
    var stop: [String]?
    var n: Int?
    var seed: Int?
    var presence_penalty: Double?
    var frequency_penalty: Double?
    var user: String?
}

struct TensorInfo: Codable {
    var dtype: String?
    var shape: [Int]?
    var data_offsets: [Int]?
    var format: String?
}

/// A chat.completion response or chunk, encoded with `null` where Kiln writes `null`.
struct CompletionResponse: Encodable {
    struct Message: Encodable {
        var role: String?
        var content: String?
    }
    struct Choice: Encodable {
        var index: Int
        var message: Message?
        var delta: Message?
        var finish_reason: String?
        enum CodingKeys: String, CodingKey { case index, message, delta, logprobs, finish_reason }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encodeIfPresent(message, forKey: .message)
            try c.encodeIfPresent(delta, forKey: .delta)
            try c.encodeNil(forKey: .logprobs)
            if let finish_reason { try c.encode(finish_reason, forKey: .finish_reason) } else { try c.encodeNil(forKey: .finish_reason) }
        }
    }
    struct Usage: Encodable {
        var prompt_tokens: Int
        var completion_tokens: Int
        var total_tokens: Int
    }
    var id: String
    var object: String
    var created: Int
    var model: String
    var system_fingerprint: String
    var choices: [Choice]
    var usage: Usage?
}

let responseText =
    "Swift's JSONDecoder decodes into Codable types, while a hand-written parser can keep key order "
    + "and tell integers from floating-point numbers.\n\nHere is an example:\n\n```swift\nlet value = try JSONParser().parse(bytes)\n"
    + "if case .int(let n) = value[\"n\"] { print(n) }\n```\n\nThe parser rejects documents nested deeper than 64 levels, "
    + "so a hostile body cannot exhaust the stack. Ünïcödé and emoji 🚀 pass through unescaped; \"quotes\" and \\ are escaped."

/// (e) A non-streaming chat.completion response, about 1 KB, in the three representations.
func completionResponse() -> (JSONValue, [String: Any], CompletionResponse) {
    let kiln: JSONValue = [
        "id": "chatcmpl-8f14e45fceea167a5a36dedd4bea2543", "object": "chat.completion", "created": 1_765_000_000,
        "model": "smollm2-360m-instruct", "system_fingerprint": "kiln-0.1",
        "choices": [
            [
                "index": 0, "message": ["role": "assistant", "content": .string(responseText)],
                "logprobs": .null, "finish_reason": "stop",
            ]
        ],
        "usage": ["prompt_tokens": 57, "completion_tokens": 142, "total_tokens": 199],
    ]
    let foundation: [String: Any] = [
        "id": "chatcmpl-8f14e45fceea167a5a36dedd4bea2543", "object": "chat.completion", "created": 1_765_000_000,
        "model": "smollm2-360m-instruct", "system_fingerprint": "kiln-0.1",
        "choices": [
            [
                "index": 0, "message": ["role": "assistant", "content": responseText],
                "logprobs": NSNull(), "finish_reason": "stop",
            ] as [String: Any]
        ],
        "usage": ["prompt_tokens": 57, "completion_tokens": 142, "total_tokens": 199],
    ]
    let codable = CompletionResponse(
        id: "chatcmpl-8f14e45fceea167a5a36dedd4bea2543", object: "chat.completion", created: 1_765_000_000,
        model: "smollm2-360m-instruct", system_fingerprint: "kiln-0.1",
        choices: [.init(index: 0, message: .init(role: "assistant", content: responseText), delta: nil, finish_reason: "stop")],
        usage: .init(prompt_tokens: 57, completion_tokens: 142, total_tokens: 199))
    return (kiln, foundation, codable)
}

/// (f) One streaming chunk, about 200 B.
func streamingChunk() -> (JSONValue, [String: Any], CompletionResponse) {
    let kiln: JSONValue = [
        "id": "chatcmpl-8f14e45fceea167a5a36dedd4bea2543", "object": "chat.completion.chunk", "created": 1_765_000_000,
        "model": "smollm2-360m-instruct", "system_fingerprint": "kiln-0.1",
        "choices": [["index": 0, "delta": ["content": " world"], "logprobs": .null, "finish_reason": .null]],
    ]
    let foundation: [String: Any] = [
        "id": "chatcmpl-8f14e45fceea167a5a36dedd4bea2543", "object": "chat.completion.chunk", "created": 1_765_000_000,
        "model": "smollm2-360m-instruct", "system_fingerprint": "kiln-0.1",
        "choices": [["index": 0, "delta": ["content": " world"], "logprobs": NSNull(), "finish_reason": NSNull()] as [String: Any]],
    ]
    let codable = CompletionResponse(
        id: "chatcmpl-8f14e45fceea167a5a36dedd4bea2543", object: "chat.completion.chunk", created: 1_765_000_000,
        model: "smollm2-360m-instruct", system_fingerprint: "kiln-0.1",
        choices: [.init(index: 0, message: nil, delta: .init(role: nil, content: " world"), finish_reason: nil)],
        usage: nil)
    return (kiln, foundation, codable)
}
