import Foundation
import KilnGrammar
import KilnJSON
import KilnTokenizer

// Mask time per decoding step over a corpus of grammars, on each vocabulary given; compile time and
// memory per compiled grammar. Each grammar is walked `walks` times from its start, each step
// picking a random allowed token (fixed seed) and ending with end-of-sequence half the time once the
// grammar may end, for at most `steps` tokens. Every mask of every walk is timed (the first steps
// of a walk, which build the matcher's tables, included), on the thread's CPU clock and the wall clock.

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
let walks = option("--walks", 4)
let steps = option("--steps", 96)
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
var vocabularyPaths = arguments.enumerated().filter { $0.offset > 0 && arguments[$0.offset - 1] == "--vocab" }.map(\.element)
if vocabularyPaths.isEmpty {
    vocabularyPaths = [
        NSHomeDirectory() + "/.cache/kiln/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        root.appendingPathComponent("Tests/Fixtures/vocab/ggml-vocab-qwen2.gguf").path,
    ]
}

func threadSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
func wallSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}
func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
}

// The corpus: hand-written schemas, the schemas and grammars of llama.cpp's integration tests,
// json_object.
var sources: [(String, GrammarSource)] = []
let handWritten = [
    #"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"type":"string","maxLength":16},"maxItems":8}},"required":["name","age"]}"#,
    #"{"type":"object","properties":{"id":{"type":"string","format":"uuid"},"created":{"type":"string","format":"date-time"},"items":{"type":"array","items":{"type":"object","properties":{"sku":{"type":"string","pattern":"^[A-Z]{3}-[0-9]{4}$"},"quantity":{"type":"integer","minimum":1},"price":{"type":"number","minimum":0}},"required":["sku","quantity","price"]}},"status":{"enum":["pending","shipped","delivered"]}},"required":["id","created","items","status"]}"#,
    ##"{"$defs":{"node":{"type":"object","properties":{"value":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"]}},"$ref":"#/$defs/node"}"##,
    #"{"type":"object","properties":{"location":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["location","unit"],"additionalProperties":false}"#,
    #"{"type":"array","items":{"anyOf":[{"type":"number"},{"type":"string"},{"type":"boolean"},{"type":"null"}]}}"#,
]
for (index, text) in handWritten.enumerated() { sources.append(("schema-\(index)", .jsonSchema(try JSONParser().parse(text)))) }
sources.append(("json_object", .jsonObject))
let fixture = try JSONParser(maxDepth: 256).parse(
    [UInt8](try Data(contentsOf: root.appendingPathComponent("Tests/Fixtures/grammar/integration.json"))))
if case .array(let cases)? = fixture["cases"] {
    for (index, item) in cases.enumerated() {
        if case .string(let text)? = item["grammar"] { sources.append(("llama-grammar-\(index)", .gbnf(text))) }
        if let schema = item["schema"] { sources.append(("llama-schema-\(index)", .jsonSchema(schema))) }
    }
}

print("load average at start: \(loadAverage())")
print("corpus: \(sources.count) grammars; \(walks) walks of at most \(steps) tokens each per grammar and vocabulary")

// Compile time and memory (no vocabulary involved).
var compileTimes: [Double] = []
var memory: [Double] = []
var grammars: [(String, Grammar)] = []
let compiler = GrammarCompiler()
for (name, source) in sources {
    var best = Double.infinity
    var grammar: Grammar?
    for _ in 0..<5 {
        let start = threadSeconds()
        grammar = try compiler.compile(source)
        best = min(best, threadSeconds() - start)
    }
    compileTimes.append(best)
    memory.append(Double(grammar!.memoryBytes))
    grammars.append((name, grammar!))
}
print(
    String(
        format: "compile (best of 5, thread CPU): p50 %.3f ms, p99 %.3f ms, max %.3f ms", percentile(compileTimes, 0.5) * 1e3,
        percentile(compileTimes, 0.99) * 1e3, compileTimes.max()! * 1e3))
print(String(format: "compiled grammar size: p50 %.1f KiB, max %.1f KiB", percentile(memory, 0.5) / 1024, memory.max()! / 1024))

for path in vocabularyPaths {
    let tokenizer = try Tokenizer(modelAt: path)
    var tokens: [[UInt8]] = []
    for id in 0..<tokenizer.vocabularySize { tokens.append(tokenizer.pieceBytes(Int32(id), renderSpecial: false)) }
    var ends = tokenizer.endOfGenerationTokens
    if let eos = tokenizer.eosToken { ends.insert(eos) }
    let buildStart = wallSeconds()
    let vocabulary = TokenVocabulary(tokens: tokens, endOfSequence: ends)
    let buildTime = wallSeconds() - buildStart
    print(
        "\nvocabulary \(URL(fileURLWithPath: path).lastPathComponent): \(vocabulary.count) tokens, \(vocabulary.nodeCount) trie nodes, built in \(String(format: "%.0f", buildTime * 1e3)) ms, \(vocabulary.memoryBytes / 1024) KiB"
    )
    var cpu: [Double] = []
    var wall: [Double] = []
    var firstMasks: [Double] = []
    var matcherBytes: [Double] = []
    var worst: [(Double, String)] = []
    var state: UInt64 = 42
    func random() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var mask = [UInt64](repeating: 0, count: (vocabulary.count + 63) / 64)
    var allowed: [Int32] = []
    allowed.reserveCapacity(vocabulary.count)
    let only = arguments.firstIndex(of: "--only").map { arguments[$0 + 1] }
    let trace = arguments.contains("--trace")
    for (name, grammar) in grammars where only == nil || only == name {
        for _ in 0..<walks {
            var text: [UInt8] = []
            let matcher = GrammarMatcher(grammar: grammar, vocabulary: vocabulary)
            for step in 0..<steps {
                let wallStart = wallSeconds()
                let cpuStart = threadSeconds()
                mask.withUnsafeMutableBufferPointer { matcher.fillAllowedTokens(into: $0) }
                let cpuTime = threadSeconds() - cpuStart
                wall.append(wallSeconds() - wallStart)
                cpu.append(cpuTime)
                if step == 0 { firstMasks.append(cpuTime) }
                if trace { print(String(format: "%8.0f µs after ", cpuTime * 1e6) + String(decoding: text, as: UTF8.self).debugDescription) }
                worst.append((cpuTime, name))
                allowed.removeAll(keepingCapacity: true)
                for word in 0..<mask.count where mask[word] != 0 {
                    var bits = mask[word]
                    while bits != 0 {
                        allowed.append(Int32(word * 64 + bits.trailingZeroBitCount))
                        bits &= bits - 1
                    }
                }
                if allowed.isEmpty { break }
                if matcher.canTerminate && random() % 2 == 0 { break }
                let choices = allowed.filter { !vocabulary.endOfSequenceTokens.contains($0) }
                if choices.isEmpty { break }
                let token = choices[Int(random() % UInt64(choices.count))]
                _ = matcher.accept(token: token)
                text += vocabulary.bytes(of: token)
            }
            matcherBytes.append(Double(matcher.memoryBytes))
        }
    }
    let mean = cpu.reduce(0, +) / Double(cpu.count)
    print(
        String(
            format: "mask per token (thread CPU), %d masks: mean %.1f µs, p50 %.1f µs, p99 %.1f µs, max %.1f µs", cpu.count, mean * 1e6,
            percentile(cpu, 0.5) * 1e6, percentile(cpu, 0.99) * 1e6, cpu.max()! * 1e6))
    print(String(format: "mask per token (wall): p50 %.1f µs, p99 %.1f µs", percentile(wall, 0.5) * 1e6, percentile(wall, 0.99) * 1e6))
    print(
        String(
            format: "first mask of a walk (cold tables), %d: p50 %.1f µs, p99 %.1f µs", firstMasks.count, percentile(firstMasks, 0.5) * 1e6,
            percentile(firstMasks, 0.99) * 1e6))
    print(
        String(
            format: "matcher tables per sequence at the end of a walk: p50 %.0f KiB, max %.0f KiB", percentile(matcherBytes, 0.5) / 1024,
            matcherBytes.max()! / 1024))
    // Which grammars the slowest 1% of masks came from.
    var tail: [String: Int] = [:]
    for (_, name) in worst.sorted(by: { $0.0 > $1.0 }).prefix(max(1, worst.count / 100)) { tail[name, default: 0] += 1 }
    print("slowest 1% by grammar: " + tail.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    let slowest = worst.sorted { $0.0 > $1.0 }.prefix(3).map { String(format: "%@ %.0f µs", $0.1, $0.0 * 1e6) }
    print("slowest masks: \(slowest.joined(separator: ", "))")
}
print("\nload average at end: \(loadAverage())")
