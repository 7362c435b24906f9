// swift-tools-version: 6.1
// Side-by-side benchmarks: echo servers and load clients written with Wisp and with the Swift peers the local
// package mirror has, driven by the neutral C load generator ../shared/tools/wsload.c. A package of its own, so that
// CI (which builds the root package) never builds the peers. Run ./run.sh.
import PackageDescription

let package = Package(
  name: "WispBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(path: "wisp"),  // a symlink to the repository root: the identity "wisp" does not depend on the clone's folder name
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.0.0"),
    .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.0.0"),
    .package(url: "https://github.com/vapor/websocket-kit", from: "2.0.0"),
  ],
  targets: [
    .target(name: "LoadSupport", path: "Sources/LoadSupport"),
    .executableTarget(
      name: "wisp-echo-server", dependencies: [.product(name: "Wisp", package: "wisp")],
      path: "Sources/WispEchoServer"),
    .executableTarget(
      name: "wisp-fanout-server", dependencies: [.product(name: "Wisp", package: "wisp")],
      path: "Sources/WispFanoutServer"),
    .executableTarget(
      name: "wisp-million", dependencies: [.product(name: "Wisp", package: "wisp")], path: "Sources/WispMillion"),
    .executableTarget(
      name: "wisp-load-client", dependencies: ["LoadSupport", .product(name: "Wisp", package: "wisp")],
      path: "Sources/WispLoadClient"),
    .executableTarget(
      name: "hummingbird-echo-server",
      dependencies: [
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        .product(name: "HummingbirdWSCompression", package: "hummingbird-websocket"),
      ],
      path: "Sources/HummingbirdEchoServer"),
    .executableTarget(
      name: "wsclient-load-client",
      dependencies: ["LoadSupport", .product(name: "WSClient", package: "swift-websocket")],
      path: "Sources/WSClientLoad"),
    .executableTarget(
      name: "websocketkit-load-client",
      dependencies: ["LoadSupport", .product(name: "WebSocketKit", package: "websocket-kit")],
      path: "Sources/WebSocketKitLoad"),
  ]
)
