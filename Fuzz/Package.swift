// swift-tools-version:6.0
// libFuzzer targets for Kiln's parsers of untrusted input. Build and run one with
//   Fuzz/run.sh <target> [seconds]    target: http, gguf, safetensors, json, template, gbnf, schema
// which builds with --sanitize=fuzzer --sanitize=address, explicit coverage flags and -D LIBFUZZER.
// A plain `swift build --package-path Fuzz` builds the same targets as replay tools instead:
//   swift run --package-path Fuzz JSONFuzzer Fuzz/corpus/json   (runs each input once, no sanitizers)
import Foundation
import PackageDescription

// A package found by path is known by its directory's name, which differs between checkouts.
let mainPackage = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

/// One fuzz target: an executable whose entry point is `LLVMFuzzerTestOneInput`, with a `main` that
/// replays files when libFuzzer is not linked.
func fuzzer(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["FuzzReplay"] + products.map { .product(name: $0, package: mainPackage) },
        swiftSettings: [.unsafeFlags(["-parse-as-library"]), .swiftLanguageMode(.v5)])
}

let package = Package(
    name: "KilnFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzReplay", swiftSettings: [.swiftLanguageMode(.v5)]),
        fuzzer("HTTPParserFuzzer", ["KilnHTTP"]),
        fuzzer("GGUFFuzzer", ["KilnFormats"]),
        fuzzer("SafetensorsFuzzer", ["KilnFormats", "KilnJSON"]),
        fuzzer("JSONFuzzer", ["KilnJSON"]),
        fuzzer("ChatTemplateFuzzer", ["KilnTemplate"]),
        fuzzer("GBNFFuzzer", ["KilnGrammar"]),
        fuzzer("JSONSchemaFuzzer", ["KilnGrammar", "KilnJSON"]),
    ]
)
