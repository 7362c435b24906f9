import Glibc
import Testing
import WispCommon
import WispLinuxPlatform
import WispSimulatorTargetModel

/// A server on loopback for the profile tests: echoes, and reports the client's headers on /headers.
func withEchoServer<Result>(_ body: (Int) async throws -> Result) async throws -> Result {
  var application = Application()
  application.install(WebSockets.self) { config in
    config.extensions { $0.install(WebSocketDeflateExtension.self) }
  }
  application.routing { routing in
    routing.webSocket("/echo") { session in
      try await session.send(session.extensions.map(\.name).joined(separator: ","))
      for try await frame in session.incoming { try await session.send(frame) }
    }
  }
  let server = EmbeddedServer(application, configuration: .init(endpoint: .host("127.0.0.1", port: 0)))
  try await server.start()
  defer { Task { await server.stop() } }
  let result = try await body(server.port ?? 0)
  await server.stop()
  return result
}

/// The same client code: a default session, then a raw one. Returns what happened to each.
func sameClientCode(_ client: HttpClient, port: Int) async -> (defaultSession: String, rawSession: String) {
  let first: String
  do {
    first = try await client.webSocket("ws://127.0.0.1:\(port)/echo") { session in
      let extensions = try await session.incoming.receive().readText()
      try await session.send("hi")
      _ = try await session.incoming.receive()
      return "ok extensions=[\(extensions)]"
    }
  } catch {
    first = "error: \(error)"
  }
  let second: String
  do {
    try await client.webSocketRaw("ws://127.0.0.1:\(port)/echo") { session in
      _ = try await session.incoming.receive()
    }
    second = "ok"
  } catch {
    second = "error: \(error)"
  }
  return (first, second)
}

@Suite("Target model: engine profiles over the Linux sockets")
struct EngineProfileTests {
  @Test("the same client code: raw sessions allowed on Linux, refused under iosX64 with the rule's message")
  func sameCodeDifferentTargets() async throws {
    let configure: (inout HttpClientConfiguration) -> Void = { config in
      config.install(WebSockets.self) { $0.extensions { $0.install(WebSocketDeflateExtension.self) } }
    }
    try await withEchoServer { port in
      let linux = await sameClientCode(HttpClient(LinuxEngine(), configure), port: port)
      #expect(linux.defaultSession == "ok extensions=[permessage-deflate]")
      #expect(linux.rawSession == "ok")

      let darwin = HttpClient(EngineProfile(target: .iosX64, engine: .darwin, over: LinuxEngine()), configure)
      let onDarwin = await sameClientCode(darwin, port: port)
      #expect(onDarwin.defaultSession == "ok extensions=[]", "Darwin negotiates no extensions")
      #expect(
        onDarwin.rawSession
          == "error: raw WebSocket sessions are available only with the CIO engine on the JVM; not with Darwin on iosX64"
      )

      let cio = HttpClient(EngineProfile(target: .iosX64, engine: .cio, over: LinuxEngine()), configure)
      let onCIO = await sameClientCode(cio, port: port)
      #expect(onCIO.defaultSession == "ok extensions=[permessage-deflate]", "CIO negotiates extensions")
      #expect(onCIO.rawSession.hasPrefix("error: raw WebSocket sessions are available only with the CIO engine"))
    }
  }

  @Test("wss is refused on the CIO profile for native targets, before any traffic")
  func wssOnNativeCIO() async throws {
    let client = HttpClient(EngineProfile(target: .iosX64, engine: .cio, over: LinuxEngine())) {
      $0.install(WebSockets.self)
    }
    do {
      try await client.wss("wss://127.0.0.1:9/") { _ in }
      Issue.record("wss must be refused")
    } catch let error as WebSocketException {
      #expect(error.message.hasPrefix("wss:// is not available with CIO on iosX64"), "\(error)")
    }
  }

  @Test("maxFrameSize defaults to 1 MiB on the Darwin profile; setting it on OkHttp throws")
  func maxFrameSize() async throws {
    try await withEchoServer { port in
      let darwin = HttpClient(EngineProfile(target: .iosX64, engine: .darwin, over: LinuxEngine())) {
        $0.install(WebSockets.self)
      }
      let outcome = try await darwin.webSocket("ws://127.0.0.1:\(port)/echo") { session in
        _ = try await session.incoming.receive()
        #expect(session.maxFrameSize == 1 << 20)
        try await session.send([UInt8](repeating: 1, count: 2 << 20))  // the server echoes 2 MiB
        do {
          _ = try await session.incoming.receive()
          return "received"
        } catch {
          return "refused"
        }
      }
      #expect(outcome == "refused", "a 2 MiB frame exceeds Darwin's 1 MiB default")
      let okHttp = HttpClient(EngineProfile(target: .android, engine: .okHttp, over: LinuxEngine())) {
        $0.install(WebSockets.self) { $0.maxFrameSize = 1000 }
      }
      await #expect(throws: WebSocketException.self) {
        try await okHttp.webSocket("ws://127.0.0.1:\(port)/echo") { _ in }
      }
    }
  }
}
