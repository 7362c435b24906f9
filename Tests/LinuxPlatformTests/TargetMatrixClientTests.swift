import Testing
import WispCommon
import WispLinuxPlatform
import WispSimulatorTargetModel

/// Issue 21: this project's client tests run under each iosX64 profile (CIO and Darwin, the engines with WebSockets
/// there; `ENGINES_WITHOUT_WS` drops DarwinLegacy) over the Linux sockets, and each passes or is refused exactly as
/// the matrix says (`MatrixCase.verdict`). The outcome table is in the closing note of issue 21.
@Suite("Compatibility-matrix tests: the client's scenarios under every iosX64 profile", .serialized)
struct TargetMatrixClientTests {
  /// One server for every scenario: `/` echoes (plain and TLS listeners), permessage-deflate accepted; `/big` sends
  /// one 2 KiB message.
  static func withServers(_ body: (_ plainPort: Int, _ tlsPort: Int) async throws -> Void) async throws {
    var application = seedEchoApplication()
    application.install(WebSockets.self) { $0.extensions { $0.install(WebSocketDeflateExtension.self) } }
    application.routing { routing in
      routing.webSocket("/big") { session in
        try await session.send(.binary([UInt8](repeating: 7, count: 2048)))
        for try await _ in session.incoming {}
      }
    }
    let plain = EmbeddedServer(
      application, configuration: .init(endpoint: .host("127.0.0.1", port: 0), group: testGroup))
    var secure = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    secure.tls = localhostServerTLS()
    let tls = EmbeddedServer(application, configuration: secure)
    try await plain.start()
    try await tls.start()
    do {
      try await body(try #require(plain.port), try #require(tls.port))
    } catch {
      await plain.stop()
      await tls.stop()
      throw error
    }
    await plain.stop()
    await tls.stop()
  }

  static func client(_ matrixCase: MatrixCase, configure: (inout WebSockets.Config) -> Void = { _ in }) -> HttpClient {
    HttpClient(matrixCase.makeEngine(over: LinuxEngine(group: testGroup))) { config in
      config.install(WebSockets.self) { configure(&$0) }
    }
  }

  /// Runs `scenario` and checks the outcome against the matrix.
  static func check(_ matrixCase: MatrixCase, _ scenario: () async throws -> Set<Capability>) async {
    let outcome: Result<Set<Capability>, any Error>
    do { outcome = .success(try await scenario()) } catch { outcome = .failure(error) }
    #expect(matrixCase.verdict(outcome) == nil, "\(matrixCase): \(matrixCase.expectation)")
  }

  @Test("the profiles of iosX64 come from the data: CIO and Darwin; DarwinLegacy is in ENGINES_WITHOUT_WS")
  func profiles() {
    #expect(TargetMatrix.profiles(of: .iosX64).map(\.engine) == [.cio, .darwin])
    #expect(TargetMatrix.enginesWithoutWebSockets(on: .iosX64).contains(.darwinLegacy))
    let lists = Dictionary(uniqueKeysWithValues: TargetMatrix.exclusionLists().map { ($0.name, $0.engines) })
    #expect(lists["ENGINES_WITHOUT_WS"] == [.android, .apache, .apache5, .jetty, .darwinLegacy])
    #expect(lists["ENGINES_WITHOUT_RAW_WEBSOCKETS"]?.contains(.darwin) == true)
    #expect(lists["ENGINES_WITHOUT_RAW_WEBSOCKETS"]?.contains(.cio) == false, "CIO has raw sessions on the JVM")
  }

  @Test("the seed examples (text echo over ws://)", arguments: TargetMatrix.profiles(of: .iosX64))
  func seedExamples(_ matrixCase: MatrixCase) async throws {
    try await Self.withServers { port, _ in
      await Self.check(matrixCase) {
        try await Self.client(matrixCase).webSocket("ws://127.0.0.1:\(port)/") { session in
          try await session.send("hello")
          #expect(try await session.incoming.receive().readText() == "YOU SAID: hello")
        }
        return [.webSocket]
      }
    }
  }

  @Test("a raw session", arguments: TargetMatrix.profiles(of: .iosX64, needing: [.rawSessions]))
  func rawSession(_ matrixCase: MatrixCase) async throws {
    try await Self.withServers { port, _ in
      await Self.check(matrixCase) {
        try await Self.client(matrixCase).webSocketRaw("ws://127.0.0.1:\(port)/") { session in
          try await session.send(.text("raw"))
          _ = try await session.incoming.receive()
        }
        return [.webSocket, .rawSessions]
      }
    }
  }

  @Test("permessage-deflate offered", arguments: TargetMatrix.profiles(of: .iosX64, needing: [.extensions]))
  func extensions(_ matrixCase: MatrixCase) async throws {
    try await Self.withServers { port, _ in
      await Self.check(matrixCase) {
        let client = Self.client(matrixCase) { $0.extensions { $0.install(WebSocketDeflateExtension.self) } }
        let negotiated = try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
          try await session.send("compress me")
          _ = try await session.incoming.receive()
          return !session.extensions.isEmpty
        }
        return negotiated ? [.webSocket, .extensions] : [.webSocket]
      }
    }
  }

  @Test("wss:// with the test CA", arguments: TargetMatrix.profiles(of: .iosX64, needing: [.tls]))
  func wss(_ matrixCase: MatrixCase) async throws {
    try await Self.withServers { _, tlsPort in
      await Self.check(matrixCase) {
        try await Self.client(matrixCase).webSocket(
          "wss://localhost:\(tlsPort)/", request: { $0.tls = trusting() }
        ) { session in
          try await session.send("secret")
          #expect(try await session.incoming.receive().readText() == "YOU SAID: secret")
        }
        return [.webSocket, .tls]
      }
    }
  }

  @Test(
    "maxFrameSize 1 KiB against a 2 KiB message",
    arguments: TargetMatrix.profiles(of: .iosX64, needing: [.maxFrameSize]))
  func maxFrameSize(_ matrixCase: MatrixCase) async throws {
    try await Self.withServers { port, _ in
      await Self.check(matrixCase) {
        let client = Self.client(matrixCase) { $0.maxFrameSize = 1024 }
        let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/big")
        do {
          _ = try await session.incoming.receive()
          return [.webSocket]  // the 2 KiB message arrived: the limit was not in effect
        } catch {
          #expect(await session.closeReason.code == .messageTooBig)
          return [.webSocket, .maxFrameSize]
        }
      }
    }
  }
}
