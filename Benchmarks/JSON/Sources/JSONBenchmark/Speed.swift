import Foundation
import KilnJSON

#if canImport(Glibc)
    import Glibc
#endif

func nowNanoseconds(_ clock: clockid_t = CLOCK_MONOTONIC) -> UInt64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CPU time of this thread: unlike wall time, it does not count the time the thread waits for a
/// core while other processes run, which on a shared, loaded machine is most of the noise.
func cpuNanoseconds() -> UInt64 { nowNanoseconds(CLOCK_THREAD_CPUTIME_ID) }

/// Results are folded into this, so that no call can be optimised away.
var sink = 0

struct Contender {
    let name: String
    /// One operation; returns something derived from its result.
    let run: () -> Int
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func formatTime(_ ns: Double) -> String {
    if ns >= 1_000_000 { return String(format: "%9.3f ms", ns / 1_000_000) }
    return String(format: "%9.2f µs", ns / 1_000)
}

/// Times each contender in batches of a calibrated number of operations (about `batchSeconds` of CPU
/// time a batch). Each round runs every contender once, starting with a different one each round,
/// so that drift in the machine's load falls on all of them alike. Prints, per operation, the
/// median thread CPU time over the rounds (the figure to compare), its minimum, the median wall
/// time, throughput from the CPU median over `inputBytes`, and the ratio of CPU medians to the first.
func compare(_ title: String, inputBytes: Int, rounds: Int, batchSeconds: Double = 0.05, _ contenders: [Contender]) {
    // Warm up and calibrate.
    var iterations: [Int] = []
    for c in contenders {
        sink &+= c.run()
        var n = 1
        while true {
            let t0 = cpuNanoseconds()
            for _ in 0..<n { sink &+= c.run() }
            let elapsed = Double(cpuNanoseconds() - t0) / 1e9
            if elapsed >= batchSeconds / 4 || n >= 1 << 24 {
                iterations.append(max(1, Int(Double(n) * batchSeconds / max(elapsed, 1e-9))))
                break
            }
            n *= 4
        }
    }
    var cpu = Array(repeating: [Double](), count: contenders.count)
    var wall = Array(repeating: [Double](), count: contenders.count)
    for round in 0..<rounds {
        for k in 0..<contenders.count {
            let i = (round + k) % contenders.count
            let c = contenders[i], n = iterations[i]
            let w0 = nowNanoseconds(), c0 = cpuNanoseconds()
            for _ in 0..<n { sink &+= c.run() }
            let c1 = cpuNanoseconds(), w1 = nowNanoseconds()
            cpu[i].append(Double(c1 - c0) / Double(n))
            wall[i].append(Double(w1 - w0) / Double(n))
        }
    }
    print("\n## \(title)  (input \(inputBytes) bytes, \(rounds) rounds)")
    print("contender                                 median CPU/op   min CPU/op  median wall/op     MB/s  ratio  ops/batch")
    let base = median(cpu[0])
    for (i, c) in contenders.enumerated() {
        let m = median(cpu[i])
        let mbps = Double(inputBytes) / m * 1e9 / 1e6
        print(
            c.name.padding(toLength: 42, withPad: " ", startingAt: 0)
                + " " + formatTime(m) + "  " + formatTime(cpu[i].min()!) + "    " + formatTime(median(wall[i]))
                + String(format: " %8.1f %6.2fx %9d", mbps, m / base, iterations[i]))
    }
}

func anyCount(_ object: Any) -> Int {
    if let d = object as? [String: Any] { return d.count }
    if let a = object as? [Any] { return a.count }
    return 1
}

func kilnCount(_ value: JSONValue) -> Int {
    switch value {
    case .object(let m): return m.count
    case .array(let a): return a.count
    default: return 1
    }
}

/// The last message's content, read through each parser's result, to check that they agree.
func crossCheck(_ name: String, _ bytes: [UInt8]) {
    let data = Data(bytes)
    var kiln = "?", serialization = "?", decoder = "?"
    if case .array(let messages)? = (try? JSONParser().parse(bytes))?["messages"], case .string(let s)? = messages.last?["content"] {
        kiln = s
    }
    if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let messages = object["messages"] as? [[String: Any]], let s = messages.last?["content"] as? String
    {
        serialization = s
    }
    if let request = try? JSONDecoder().decode(ChatRequest.self, from: data), let s = request.messages.last?.content {
        decoder = s
    }
    print(
        "cross-check \(name): last message \(kiln.unicodeScalars.count) scalars; "
            + "JSONSerialization \(serialization == kiln ? "equal" : "DIFFERS"), JSONDecoder \(decoder == kiln ? "equal" : "DIFFERS")")
}

func runSpeed(rounds: Int) {
    let a = smallRequest(), b = mediumRequest(), c = largeUnicodeRequest(), d = safetensorsHeader()
    print("inputs: (a) \(a.count) B, (b) \(b.count) B, (c) \(c.count) B, (d) \(d.count) B")
    crossCheck("(a)", a)
    crossCheck("(b)", b)
    crossCheck("(c)", c)

    let decoder = JSONDecoder()
    func requestContenders(_ bytes: [UInt8]) -> [Contender] {
        let data = Data(bytes)
        return [
            Contender(name: "KilnJSON JSONParser().parse([UInt8])") { kilnCount(try! JSONParser().parse(bytes)) },
            Contender(name: "JSONSerialization.jsonObject(with: Data)") { anyCount(try! JSONSerialization.jsonObject(with: data)) },
            Contender(name: "JSONDecoder.decode(ChatRequest, Data)") { try! decoder.decode(ChatRequest.self, from: data).messages.count },
        ]
    }
    compare("parse (a) chat completion request ~1 KB", inputBytes: a.count, rounds: rounds, requestContenders(a))
    compare("parse (b) chat completion request ~100 KB", inputBytes: b.count, rounds: rounds, requestContenders(b))
    compare("parse (c) 2 MB non-ASCII prompt with \\u escapes", inputBytes: c.count, rounds: rounds, batchSeconds: 0.15, requestContenders(c))
    let dData = Data(d)
    compare(
        "parse (d) safetensors header, 497 tensors", inputBytes: d.count, rounds: rounds,
        [
            Contender(name: "KilnJSON JSONParser(maxDepth: 8).parse") { kilnCount(try! JSONParser(maxDepth: 8).parse(d)) },
            Contender(name: "JSONSerialization.jsonObject(with: Data)") { anyCount(try! JSONSerialization.jsonObject(with: dData)) },
            Contender(name: "JSONDecoder.decode([String: TensorInfo])") { try! decoder.decode([String: TensorInfo].self, from: dData).count },
        ])

    let encoder = JSONEncoder()
    for (title, (kiln, foundation, codable)) in [
        ("write (e) chat.completion response", completionResponse()),
        ("write (f) chat.completion.chunk", streamingChunk()),
    ] {
        let sizes = [
            kiln.serializedBytes.count, try! JSONSerialization.data(withJSONObject: foundation).count,
            try! encoder.encode(codable).count,
        ]
        print("\noutput sizes for \(title): KilnJSON \(sizes[0]) B, JSONSerialization \(sizes[1]) B, JSONEncoder \(sizes[2]) B")
        compare(
            title, inputBytes: sizes[0], rounds: rounds,
            [
                Contender(name: "KilnJSON JSONValue.serialized (String)") { kiln.serialized.utf8.count },
                Contender(name: "KilnJSON JSONValue.serializedBytes") { kiln.serializedBytes.count },
                Contender(name: "JSONSerialization.data(withJSONObject:)") { try! JSONSerialization.data(withJSONObject: foundation).count },
                Contender(name: "JSONEncoder().encode (shared encoder)") { try! encoder.encode(codable).count },
            ])
    }
    print("\n(sink \(sink & 0xFF))")
}
