import Foundation

// KilnJSON against Foundation: speed (parse, write) and the semantics an API server depends on.
let arguments = CommandLine.arguments
if arguments.count >= 4, arguments[1] == "--depth-child" {
    depthChild(reader: arguments[2], depth: Int(arguments[3])!, objects: arguments.count > 4 && arguments[4] == "objects")
}
setvbuf(stdout, nil, _IOLBF, 0)
let loadavg = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
print("JSONBenchmark  date \(Date())  loadavg \(loadavg)  cores \(ProcessInfo.processInfo.activeProcessorCount)")
if !arguments.contains("--probes-only") {
    runSpeed(rounds: arguments.contains("--quick") ? 5 : 21)
}
if !arguments.contains("--speed-only") {
    runProbes()
    runDepthProbes()
}
let loadavgEnd = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
print("\nloadavg at end \(loadavgEnd)")
