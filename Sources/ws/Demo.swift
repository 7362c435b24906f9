import ArgumentParser
import Wisp

/// `ws demo`: a server and a client in one process, over real loopback sockets, in a short conversation.
struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Start a server and a client on loopback and show a short real conversation.",
    discussion: """
      Text, binary, ping/pong, a compressed message (permessage-deflate) and clean closes, with the server's log \
      interleaved. Exits 0 when every step behaved as RFC 6455 and RFC 7692 require.
      """)

  @OptionGroup var output: OutputOptions

  func run() async throws {
    let started = ContinuousClock.now
    do {
      try await withDeadline(.seconds(30)) { try await conversation() }
    } catch {
      Console.error("demo failed: \(error)")
      throw ExitCode(ExitStatus.failure)
    }
    if !output.quiet { Console.out("demo finished in \(format(ContinuousClock.now - started))") }
  }

  private func conversation() async throws {
    let say: @Sendable (String) -> Void = { line in Console.out(line) }
    var application = Application()
    application.install(WebSockets.self) { config in
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
    }
    application.logger = Logger(label: "ws.demo") { _ in ConsoleLogHandler(level: .info) { say("  server: \($0)") } }
    application.routing { routing in
      routing.webSocket("/chat") { session in
        for try await frame in session.incoming {
          switch frame.frameType {
          case .text:
            let text = try frame.readText()
            try await session.send("YOU SAID: \(text)")
            if text == "bye" { try await session.close(CloseReason(.normal, "Client said BYE")) }
          default:
            try await session.send(frame)
          }
        }
      }
      routing.webSocketRaw("/inspect", negotiateExtensions: true) { session in
        // A raw route sees frames as they are on the wire: report how the client's message arrived.
        let frame = try await session.incoming.receive()
        try await session.send(
          .text("\(frame.rsv1 ? "compressed (RSV1 set)" : "not compressed"), \(frame.data.count) bytes on the wire"))
        let close = try await session.incoming.receive()
        try await session.send(.close(close.readReason() ?? CloseReason(.normal)))
      }
    }
    let server = EmbeddedServer(application, configuration: .init(endpoint: .host("127.0.0.1", port: 0)))
    try await server.start()
    defer { Task { await server.stop() } }
    let port = server.port ?? 0
    say("server listening on 127.0.0.1:\(port) (routes /chat and /inspect, permessage-deflate enabled)")

    let client = HttpClient(LinuxEngine()) { config in
      config.install(WebSockets.self) { plugin in
        plugin.extensions { $0.install(WebSocketDeflateExtension.self) }
      }
    }
    let reason = try await client.webSocket("ws://127.0.0.1:\(port)/chat") { session in
      say("client connected to /chat; extensions: \(session.extensions.map(\.name).joined(separator: ", "))")
      say("client → text \"hello, server\"")
      try await session.send("hello, server")
      say("client ← text \"\(try await session.incoming.receive().readText())\"")
      let bytes: [UInt8] = Array(0..<16)
      say("client → binary \(hexDump(bytes))")
      try await session.send(bytes)
      let echoed = try await session.incoming.receive()
      guard echoed.frameType == .binary, echoed.data == bytes else { throw DemoError("the binary echo differs") }
      say("client ← binary \(hexDump(echoed.data))")
      let roundTrip = try await session.ping(Array("are you there?".utf8))
      say("client → ping \"are you there?\"; ← pong after \(format(roundTrip))")
      say("client → text \"bye\"")
      try await session.send("bye")
      say("client ← text \"\(try await session.incoming.receive().readText())\"")
      return await session.closeReason
    }
    say("client: the server closed the session: \(reason)")
    guard reason == CloseReason(.normal, "Client said BYE") else { throw DemoError("unexpected close \(reason)") }

    let report = try await client.webSocket("ws://127.0.0.1:\(port)/inspect") { session in
      let json = (0..<40).map { #"{"id":\#($0),"event":"price-update","symbol":"WISP","bid":101.25}"# }
      let message = "[" + json.joined(separator: ",") + "]"
      say("client → text of \(message.utf8.count) bytes (JSON) to /inspect")
      try await session.send(message)
      let report = try await session.incoming.receive().readText()
      say("client ← \"\(report)\"")
      let reason = try await session.close(CloseReason(.normal, "done"))
      say("client: closed with \(reason)")
      return report
    }
    guard report.hasPrefix("compressed") else { throw DemoError("the message was not compressed: \(report)") }
    await server.stop()
    say("server stopped")
  }
}

/// A demo step went wrong.
struct DemoError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// `00 01 02 ...`.
func hexDump(_ bytes: [UInt8]) -> String {
  bytes.map { byte in
    let digits = String(byte, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
  }.joined(separator: " ")
}

/// A duration as milliseconds with two decimals, or microseconds below 1 ms.
func format(_ duration: Duration) -> String {
  let (seconds, attoseconds) = duration.components
  let microseconds = Double(seconds) * 1_000_000 + Double(attoseconds) / 1e12
  if microseconds < 1000 { return "\(Int(microseconds)) µs" }
  return "\(Double(Int(microseconds / 10)) / 100) ms"
}

/// Runs `body`, failing with a timeout error when it takes longer than `limit`.
func withDeadline<Result: Sendable>(
  _ limit: Duration, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
  try await withThrowingTaskGroup(of: Result?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      try await Task.sleep(for: limit)
      return nil
    }
    guard let first = try await group.next(), let result = first else {
      group.cancelAll()
      throw DemoError("timed out after \(limit)")
    }
    group.cancelAll()
    return result
  }
}
