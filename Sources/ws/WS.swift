import ArgumentParser

/// `ws`: a WebSocket client, server, load generator and conformance driver on Wisp.
@main
struct WS: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ws",
    abstract: "A WebSocket client, server, benchmark and conformance driver (Wisp, RFC 6455 + RFC 7692).",
    subcommands: [Demo.self, Connect.self, Serve.self, Bench.self, AutobahnClient.self, Targets.self])
}
