// swift-tools-version:6.0
// KilnJSON against Foundation's JSONSerialization / JSONDecoder / JSONEncoder: speed and semantics.
// Build and run (a scratch path outside the checkout keeps it apart from other builds):
//   swift build -c release --package-path Benchmarks/JSON --scratch-path /tmp/json-bench-build
//   swift run -c release --package-path Benchmarks/JSON --scratch-path /tmp/json-bench-build JSONBenchmark
// Arguments: `--quick` (fewer rounds), `--probes-only`, `--speed-only`.
import Foundation
import PackageDescription

// A package found by path is known by its directory's name, which differs between checkouts.
let mainPackage = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "KilnJSONBenchmark",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "JSONBenchmark",
            dependencies: [.product(name: "KilnJSON", package: mainPackage)],
            swiftSettings: [.swiftLanguageMode(.v5)])
    ]
)
