// swift-tools-version: 6.1
// Wisp: a WebSocket stack for Swift on Linux (RFC 6455 + RFC 7692), modelled on Ktor's WebSocket support.
//
// Folder layout follows the design card (Sources/Common, Sources/LinuxPlatform, Sources/SimulatorTargetModel).
// Module names carry a `Wisp` prefix so that they never clash with another package's `Common` module in a
// user's dependency graph; see docs/decisions/0001-module-names.md.
import PackageDescription

let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
  // Async functions run on their caller's executor unless marked @concurrent: the I/O path stays on the event
  // loop that owns the socket, with no hop (docs/decisions/0003).
  .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
  name: "Wisp",
  products: [
    .library(name: "Wisp", targets: ["Wisp"]),
    .executable(name: "wisp-codec-bench", targets: ["CodecBenchmark"]),
    .executable(name: "ws", targets: ["ws"]),
    .executable(name: "wisp-target-docs", targets: ["TargetDocs"]),
    .executable(name: "wisp-pool-probe", targets: ["PoolSaturationProbe"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // Logging and metrics through the Swift server ecosystem's APIs (docs/decisions/0019).
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    // `swift package generate-documentation` for the DocC catalogue (a plugin: nothing of it is linked).
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
  ],
  targets: [
    .target(
      name: "WispCommon",
      dependencies: [
        .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
      ],
      path: "Sources/Common", swiftSettings: strictSettings),
    .systemLibrary(name: "CWispSystem", path: "Sources/CWispSystem"),
    .systemLibrary(name: "CWispZlib", path: "Sources/CWispZlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(
      name: "CWispOpenSSL", path: "Sources/CWispOpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
    // HTTP/2 for WebSockets over HTTP/2 (RFC 8441): the reference implementation, never hand-written HPACK.
    .systemLibrary(
      name: "CWispNghttp2", path: "Sources/CWispNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]
    ),
    .target(
      name: "WispLinuxPlatform",
      dependencies: [
        "WispCommon", "WispSimulatorTargetModel", "CWispSystem", "CWispOpenSSL", "CWispZlib", "CWispNghttp2",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Sources/LinuxPlatform",
      swiftSettings: strictSettings),
    .target(
      name: "WispSimulatorTargetModel", dependencies: ["WispCommon"], path: "Sources/SimulatorTargetModel",
      swiftSettings: strictSettings),
    .target(
      name: "Wisp",
      dependencies: [
        "WispCommon", "WispLinuxPlatform", "WispSimulatorTargetModel", .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/Wisp", swiftSettings: strictSettings),
    .executableTarget(
      name: "ws",
      dependencies: [
        "Wisp", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      path: "Sources/ws", swiftSettings: strictSettings),
    .executableTarget(
      name: "TargetDocs", dependencies: ["WispSimulatorTargetModel"], path: "Sources/TargetDocs",
      swiftSettings: strictSettings),
    .executableTarget(
      name: "CodecBenchmark", dependencies: ["WispCommon"], path: "Sources/CodecBenchmark",
      swiftSettings: strictSettings),
    .executableTarget(
      name: "PoolSaturationProbe", dependencies: ["WispCommon", "WispLinuxPlatform"],
      path: "Sources/PoolSaturationProbe", swiftSettings: strictSettings),
    .testTarget(
      name: "LinuxPlatformTests",
      dependencies: [
        "WispLinuxPlatform", "WispCommon", "WispSimulatorTargetModel", .product(name: "Logging", package: "swift-log"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
        .product(name: "MetricsTestKit", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Tests/LinuxPlatformTests",
      exclude: ["Fixtures"],
      swiftSettings: strictSettings),
    .testTarget(
      name: "SimulatorTargetModelTests", dependencies: ["WispSimulatorTargetModel", "WispLinuxPlatform", "WispCommon"],
      path: "Tests/SimulatorTargetModelTests", swiftSettings: strictSettings),
    .testTarget(
      name: "CommonTests", dependencies: ["WispCommon"], path: "Tests/CommonTests", swiftSettings: strictSettings),
  ],
  swiftLanguageModes: [.v6]
)
