import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// The loopback server the seed examples run against (plain and TLS listeners of one application): what the
/// seeds' `echo.websocket.org`, `api.example.com` and the others stand for.
///
/// - `/auth` answers with the request's `Authorization` header, then echoes;
/// - `/goaway` closes with 1001 "Server going away" after the first message, `/goaway-now` at once;
/// - `/protocol-error` closes with 1002 after the first message; `/private` refuses the upgrade with 401;
/// - everything else echoes every message (text and binary), answering pings (a default session).
enum SeedServer {
  static func application() -> Application {
    var application = Application()
    application.install(WebSockets.self) { $0.extensions { $0.install(WebSocketDeflateExtension.self) } }
    application.routing { routing in
      routing.webSocket("/auth") { session in
        try await session.send("auth=\(session.call.request.headers["Authorization"] ?? "none")")
        for try await frame in session.incoming { try await session.send(frame) }
      }
      routing.webSocket("/goaway") { session in
        _ = try? await session.incoming.receive()
        try await session.close(CloseReason(.goingAway, "Server going away"))
      }
      routing.webSocket("/private", beforeUpgrade: { _ in .unauthorized() }) { _ in }
      routing.webSocket("/goaway-now") { session in
        try await session.close(CloseReason(.goingAway, "Server going away"))
      }
      routing.webSocket("/protocol-error") { session in
        _ = try? await session.incoming.receive()
        try await session.close(CloseReason(.protocolError, "Protocol error"))
      }
      routing.webSocket("/{path...}") { session in
        for try await frame in session.incoming { try await session.send(frame) }
      }
      routing.webSocket("/") { session in
        for try await frame in session.incoming { try await session.send(frame) }
      }
    }
    return application
  }

  /// Runs `body` with the plain and the TLS port (certificate for `localhost` from the test CA).
  static func run(_ body: (_ port: Int, _ tlsPort: Int) async throws -> Void) async throws {
    let plain = EmbeddedServer(
      application(), configuration: .init(endpoint: .host("127.0.0.1", port: 0), group: testGroup))
    var secure = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    secure.tls = localhostServerTLS()
    let tls = EmbeddedServer(application(), configuration: secure)
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

  /// What the seeds' `println` printed, for the test to check.
  final class Output: Sendable {
    private let lines = Mutex<[String]>([])
    func println(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
  }
}

/// The seed's `trust` for the test CA: a real certificate chain, verified with the hostname, as a Ktor user's
/// engine would verify a public one.
let trustTestCA: @Sendable (inout HttpRequestBuilder) throws -> Void = {
  $0.tls.trustRoots = .file(certificate("ca.pem"))
}
