// swift-tools-version:6.0
// A libFuzzer target for the HTTP/1.1 request parser. Build and run:
//   Fuzz/run.sh [seconds]   (builds with --sanitize=fuzzer --sanitize=address and explicit coverage)
//   or: swift build --package-path Fuzz -c release --sanitize=fuzzer --sanitize=address \
//         -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table
import Foundation
import PackageDescription

// A package found by path is known by its directory's name, which differs between checkouts.
let mainPackage = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "KilnFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "HTTPParserFuzzer",
            dependencies: [.product(name: "KilnHTTP", package: mainPackage)],
            swiftSettings: [.unsafeFlags(["-parse-as-library"]), .swiftLanguageMode(.v5)]),
    ]
)
