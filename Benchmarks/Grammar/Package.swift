// swift-tools-version:6.0
// KilnGrammar's speed: token-mask time per step, compile time and memory per compiled grammar.
// Build and run (a scratch path outside the checkout keeps it apart from other builds):
//   swift build -c release --package-path Benchmarks/Grammar --scratch-path /tmp/grammar-bench-build
//   /tmp/grammar-bench-build/release/GrammarBenchmark [--walks N] [--steps N] [--vocab PATH]...
import Foundation
import PackageDescription

// A package found by path is known by its directory's name, which differs between checkouts.
let mainPackage = URL(fileURLWithPath: Context.packageDirectory)
    .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "KilnGrammarBenchmark",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(
            name: "GrammarBenchmark",
            dependencies: [
                .product(name: "KilnGrammar", package: mainPackage),
                .product(name: "KilnTokenizer", package: mainPackage),
                .product(name: "KilnJSON", package: mainPackage),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)])
    ]
)
