// swift-tools-version:6.0
import PackageDescription

/// Engine modules are always compiled with optimisation, even in debug builds:
/// the reference tests run real forward passes, which are unusably slow at -Onone.
let optimized: [SwiftSetting] = [.unsafeFlags(["-O", "-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .library(name: "KilnHTTP", targets: ["KilnHTTP"]),
        .library(name: "KilnTemplate", targets: ["KilnTemplate"]),
        .library(name: "KilnTokenizer", targets: ["KilnTokenizer"]),
        .library(name: "KilnText", targets: ["KilnText"]),
        .library(name: "KilnFormats", targets: ["KilnFormats"]),
        .library(name: "KilnJSON", targets: ["KilnJSON"]),
        .library(name: "KilnGrammar", targets: ["KilnGrammar"]),
    ],
    // Exact versions make builds reproducible. Package.resolved is not committed: the package mirror
    // this project is built against tags synthetic commits, so its pins would name revisions that do
    // not exist on GitHub and break every build outside it (Docs/architecture.md, "Dependencies").
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
    ],
    targets: [
        // System libraries: each is a module map plus a shim for the macros Swift cannot call.
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // epoll, eventfd and accept4, which Swift's Glibc module does not import.
        .systemLibrary(name: "CKilnLinux"),
        // Narrow SIMD loops with runtime dispatch and a scalar fallback.
        .target(
            name: "CKilnKernels",
            cSettings: [.unsafeFlags(["-O3"])]),

        .target(
            name: "KilnHTTP",
            dependencies: [
                "COpenSSL", "CZlib", "CKilnLinux", "KilnJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"]), .swiftLanguageMode(.v5)]),
        .target(
            name: "KilnJSON",
            swiftSettings: optimized + [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnFormats",
            dependencies: ["KilnJSON"],
            swiftSettings: optimized + [.swiftLanguageMode(.v5)]),
        .target(
            name: "KilnTensor",
            dependencies: ["CKilnKernels", "KilnFormats"],
            swiftSettings: optimized + [.swiftLanguageMode(.v5)]),
        .target(
            name: "KilnTemplate",
            dependencies: ["KilnJSON"],
            swiftSettings: optimized + [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnTokenizer",
            dependencies: ["KilnFormats", "KilnJSON"],
            swiftSettings: optimized + [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnGrammar",
            dependencies: ["KilnJSON"],
            swiftSettings: optimized + [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnLayers",
            dependencies: ["KilnTensor", "KilnFormats", "KilnJSON"],
            swiftSettings: optimized + [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnText",
            dependencies: ["KilnTensor", "KilnFormats", "KilnLayers", "KilnJSON"],
            swiftSettings: optimized + [.swiftLanguageMode(.v5)]),
        .target(
            name: "KilnImage",
            dependencies: ["KilnTensor", "KilnFormats", "KilnLayers", "KilnTokenizer", "KilnJSON", "CZlib"],
            swiftSettings: optimized + [.swiftLanguageMode(.v5)]),
        .target(
            name: "KilnServe",
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnExecutors",
            dependencies: ["KilnServe", "KilnText", "KilnImage", "KilnTensor"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(
            name: "KilnAPI",
            dependencies: [
                "KilnHTTP", "KilnServe", "KilnJSON", "KilnText", "KilnTokenizer", "KilnTemplate", "KilnImage", "KilnGrammar",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The playground's page, scripts and style sheet, compiled into the binary
            // (`PackageResources`), so that it serves them from wherever it runs: no bundle to find.
            resources: [.embedInCode("Playground/Files")],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnAPI", "KilnHTTP", "KilnServe", "KilnExecutors", "KilnText", "KilnImage",
                "KilnTokenizer", "KilnTemplate", "KilnTensor", "KilnLayers", "KilnFormats", "KilnJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]),

        .testTarget(
            name: "KilnHTTPTests", dependencies: ["KilnHTTP", "COpenSSL", .product(name: "Logging", package: "swift-log")],
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "KilnJSONTests", dependencies: ["KilnJSON"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "KilnFormatsTests", dependencies: ["KilnFormats"],
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "KilnTensorTests", dependencies: ["KilnTensor", "KilnFormats", "CKilnKernels"],
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "KilnTemplateTests", dependencies: ["KilnTemplate"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "KilnTokenizerTests", dependencies: ["KilnTokenizer"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "KilnGrammarTests", dependencies: ["KilnGrammar", "KilnJSON", "KilnTokenizer", "KilnFormats"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "KilnTextTests", dependencies: ["KilnText", "KilnFormats", "KilnTensor"],
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "KilnImageTests", dependencies: ["KilnImage", "KilnFormats", "KilnLayers", "KilnTensor", "KilnTokenizer", "CKilnKernels", "CZlib"],
            swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(
            name: "KilnServeTests", dependencies: ["KilnServe"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "KilnExecutorsTests", dependencies: ["KilnExecutors", "KilnServe", "KilnImage", "KilnText", "KilnTokenizer", "KilnTensor"],
            swiftSettings: [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "KilnAPITests",
            dependencies: [
                "KilnAPI", "KilnHTTP", "KilnJSON", "KilnImage", "KilnGrammar", "KilnServe", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
