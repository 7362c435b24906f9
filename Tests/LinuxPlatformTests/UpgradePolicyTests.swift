import Logging
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 18: deciding before the 101, over loopback sockets (raw requests, so every status and header is visible).
@Suite("Upgrade policy: checks, Origin, route groups, per-address limits")
struct UpgradePolicyTests {
  struct User: Sendable, Equatable {
    let name: String
  }

  /// A token check: 401 with a challenge without a token, 403 for a wrong one, else the user and a cookie.
  static let tokenCheck: UpgradeCheck = { call in
    guard let token = call.query("token") ?? call.cookie("token") else {
      return .unauthorized(challenge: "Bearer realm=\"wisp\"")
    }
    guard token == "secret" else { return .forbidden(reason: "bad token") }
    return .accept(User(name: "ada"), headers: ["Set-Cookie": "session=s1; HttpOnly"])
  }

  /// A server whose WebSocket handlers greet with the user the checks accepted (or "anonymous"), then echo.
  static func startServer(
    _ config: WebSockets.ServerConfig = WebSockets.ServerConfig(),
    logger: Logger = .wispSilent,
    routes: (inout Routing) -> Void
  ) async throws -> EmbeddedServer {
    var application = Application()
    application.install(WebSockets.self) { $0 = config }
    application.logger = logger
    application.routing(routes)
    let server = EmbeddedServer(
      application, configuration: .init(endpoint: .host("127.0.0.1", port: 0), group: testGroup))
    try await server.start()
    return server
  }

  static let greeter: @Sendable (DefaultWebSocketServerSession) async throws -> Void = { session in
    try await session.send(.text("hello " + (session.call.attribute(User.self)?.name ?? "anonymous")))
    for try await frame in session.incoming { try await session.send(frame) }
  }

  /// Sends an upgrade request for `target` with `headers` on a new socket; returns the socket (open), the response
  /// head, and what followed it (the first frame, when upgraded), read for at most `wait`.
  static func upgrade(
    _ port: Int, _ target: String, headers: [String] = [], wait: Duration = .seconds(3), greeted: Bool = true
  ) async throws -> (socket: SocketTransport, head: String, rest: [UInt8], answerTime: Duration) {
    let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[1])
    return try await withTaskExecutorPreference(socket.loop) {
      // When the request went out, measured on the loop: `answerTime` is the server's, not this test's wait for a
      // thread of the global pool (busy while the whole suite runs).
      var requestSent = ContinuousClock.now
      var answerTime = Duration.zero
      let request =
        "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + headers.map { $0 + "\r\n" }.joined() + "\r\n"
      try await socket.write(Array(request.utf8))
      requestSent = ContinuousClock.now
      var answer: [UInt8] = []
      let deadline = ContinuousClock.now + wait
      while ContinuousClock.now < deadline {
        if let end = answer.firstRange(of: Array("\r\n\r\n".utf8)) {
          answerTime = ContinuousClock.now - requestSent
          let head = String(decoding: answer[..<end.upperBound], as: UTF8.self)
          let rest = Array(answer[end.upperBound...])
          // Upgraded: wait for the greeting frame (2 + its length); refused: for the body (or the close).
          if head.hasPrefix("HTTP/1.1 101") {
            if !greeted || (rest.count >= 2 && rest.count >= 2 + Int(rest[1] & 0x7F)) {
              return (socket, head, rest, answerTime)
            }
          } else if let length = Self.contentLength(head), rest.count >= length {
            return (socket, head, rest, answerTime)
          }
        }
        let chunk = try await socket.read { Array($0) }
        if chunk.isEmpty { break }
        answer += chunk
      }
      let end = answer.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound ?? answer.count
      return (socket, String(decoding: answer[..<end], as: UTF8.self), Array(answer[end...]), answerTime)
    }
  }

  static func contentLength(_ head: String) -> Int? {
    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
      .flatMap { Int($0.split(separator: ":")[1].filter { $0 != " " }) }
  }

  /// The text of the first (unmasked, short) server frame in `bytes`.
  static func greeting(_ bytes: [UInt8]) -> String? {
    guard bytes.count >= 2, bytes[0] == 0x81 else { return nil }
    let length = Int(bytes[1] & 0x7F)
    guard bytes.count >= 2 + length else { return nil }
    return String(decoding: bytes[2..<(2 + length)], as: UTF8.self)
  }

  @Test(
    "a check refuses with 401 and WWW-Authenticate, 403 for a wrong token; accepted: Set-Cookie on the 101 and the typed user in the handler"
  )
  func tokenCheck() async throws {
    let server = try await Self.startServer { routing in
      routing.webSocket("/chat", beforeUpgrade: Self.tokenCheck, Self.greeter)
    }
    let port = try #require(server.port)
    let missing = try await Self.upgrade(port, "/chat")
    #expect(missing.head.hasPrefix("HTTP/1.1 401 "), "\(missing.head)")
    #expect(missing.head.contains("\r\nWWW-Authenticate: Bearer realm=\"wisp\"\r\n"), "\(missing.head)")
    let wrong = try await Self.upgrade(port, "/chat?token=guess")
    #expect(wrong.head.hasPrefix("HTTP/1.1 403 "), "\(wrong.head)")
    #expect(!wrong.head.contains("Sec-WebSocket-Accept"))
    let good = try await Self.upgrade(port, "/chat?token=secret")
    #expect(good.head.hasPrefix("HTTP/1.1 101 "), "\(good.head)")
    #expect(good.head.contains("\r\nSet-Cookie: session=s1; HttpOnly\r\n"), "\(good.head)")
    #expect(Self.greeting(good.rest) == "hello ada")
    let byCookie = try await Self.upgrade(port, "/chat", headers: ["Cookie: theme=dark; token=secret"])
    #expect(Self.greeting(byCookie.rest) == "hello ada", "\(byCookie.head)")
    for connection in [missing, wrong, good, byCookie] { await connection.socket.close() }
    await server.stop()
  }

  @Test("a check past upgradeCheckTimeout gets 503, a throwing one 500; neither tells the client why, the log does")
  func slowAndThrowingChecks() async throws {
    let log = LogRecords()
    var config = WebSockets.ServerConfig()
    config.upgradeCheckTimeout = .milliseconds(300)
    let server = try await Self.startServer(
      config,
      logger: log.logger,
      routes: { routing in
        // Ignores cancellation on purpose (a detached task's value is not cancelled with the waiter): the server must
        // not wait for it.
        routing.webSocket(
          "/slow",
          beforeUpgrade: { _ in
            await Task.detached { try? await Task.sleep(for: .seconds(10)) }.value
            return .accept()
          }, Self.greeter)
        routing.webSocket(
          "/throws", beforeUpgrade: { _ in throw TokenServiceDown(detail: "db password is hunter2") },
          Self.greeter)
      })
    let port = try #require(server.port)
    let slow = try await Self.upgrade(port, "/slow")
    #expect(slow.answerTime < .seconds(2), "answered after \(slow.answerTime)")
    #expect(slow.head.hasPrefix("HTTP/1.1 503 "), "\(slow.head)")
    let throwing = try await Self.upgrade(port, "/throws")
    #expect(throwing.head.hasPrefix("HTTP/1.1 500 "), "\(throwing.head)")
    #expect(!String(decoding: throwing.rest, as: UTF8.self).contains("hunter2"))
    let lines = log.all.filter { $0.level == .error && $0.message.contains("upgrade check failed") }.map(\.message)
    #expect(lines.contains { $0.contains("/slow") && $0.contains("longer than") }, "\(lines)")
    #expect(lines.contains { $0.contains("/throws") && $0.contains("hunter2") }, "\(lines)")
    for connection in [slow, throwing] { await connection.socket.close() }
    await server.stop()
  }

  struct TokenServiceDown: Error {
    let detail: String
  }

  @Test("Origin allow list: exact and *. patterns pass, others get 403 before the upgrade, no Origin is not affected")
  func originAllowList() async throws {
    var config = WebSockets.ServerConfig()
    config.originPolicy = .allowList(["https://app.example.com", "https://*.example.org"])
    let server = try await Self.startServer(config) { routing in routing.webSocket("/", Self.greeter) }
    let port = try #require(server.port)
    let cases: [(origin: String?, upgraded: Bool)] = [
      ("https://app.example.com", true), ("https://APP.example.com:443", true), ("https://evil.example.com", false),
      ("http://app.example.com", false), ("https://a.example.org", true), ("https://b.a.example.org", true),
      ("https://example.org", false), ("https://app.example.com:8443", false), ("null", false), (nil, true),
    ]
    for (origin, upgraded) in cases {
      let answer = try await Self.upgrade(port, "/", headers: origin.map { ["Origin: \($0)"] } ?? [])
      #expect(
        answer.head.hasPrefix(upgraded ? "HTTP/1.1 101 " : "HTTP/1.1 403 "), "\(origin ?? "none"): \(answer.head)")
      await answer.socket.close()
    }
    await server.stop()
  }

  @Test("same origin: the Origin's host and port must equal Host")
  func sameOrigin() async throws {
    var config = WebSockets.ServerConfig()
    config.originPolicy = .sameOrigin
    let server = try await Self.startServer(config) { routing in
      routing.webSocket("/", Self.greeter)
    }
    let port = try #require(server.port)
    let same = try await Self.upgrade(port, "/", headers: ["Origin: http://127.0.0.1:\(port)"])
    #expect(same.head.hasPrefix("HTTP/1.1 101 "), "\(same.head)")
    let otherPort = try await Self.upgrade(port, "/", headers: ["Origin: http://127.0.0.1:\(port + 1)"])
    #expect(otherPort.head.hasPrefix("HTTP/1.1 403 "), "\(otherPort.head)")
    let otherHost = try await Self.upgrade(port, "/", headers: ["Origin: http://localhost:\(port)"])
    #expect(otherHost.head.hasPrefix("HTTP/1.1 403 "), "\(otherHost.head)")
    for connection in [same, otherPort, otherHost] { await connection.socket.close() }
    await server.stop()
  }

  @Test(
    "a route group shares one check: nested and path-less WebSocket routes are behind it, plain routes and routes outside are not"
  )
  func routeGroup() async throws {
    let server = try await Self.startServer { routing in
      routing.route("/api", beforeUpgrade: Self.tokenCheck) { api in
        api.webSocket("/chat", Self.greeter)
        api.webSocket(Self.greeter)
        api.route(
          "/admin",
          beforeUpgrade: { call in
            call.attribute(User.self)?.name == "ada" ? .accept(User(name: "ada (admin)")) : .forbidden()
          }
        ) { admin in admin.webSocket("/console", Self.greeter) }
        api.get("/status") { _ in .text("up") }
      }
      routing.webSocket("/open", Self.greeter)
    }
    let port = try #require(server.port)
    for target in ["/api/chat", "/api", "/api/admin/console"] {
      let refused = try await Self.upgrade(port, target)
      #expect(refused.head.hasPrefix("HTTP/1.1 401 "), "\(target): \(refused.head)")
      await refused.socket.close()
    }
    let chat = try await Self.upgrade(port, "/api/chat?token=secret")
    #expect(Self.greeting(chat.rest) == "hello ada", "\(chat.head)")
    let root = try await Self.upgrade(port, "/api?token=secret")
    #expect(Self.greeting(root.rest) == "hello ada", "\(root.head)")
    let console = try await Self.upgrade(port, "/api/admin/console?token=secret")
    #expect(Self.greeting(console.rest) == "hello ada (admin)", "\(console.head)")
    let open = try await Self.upgrade(port, "/open")
    #expect(Self.greeting(open.rest) == "hello anonymous", "\(open.head)")
    let status = try await RawHTTP.exchange(port, "GET /api/status HTTP/1.1\r\nHost: h\r\n\r\n")
    #expect(status.hasPrefix("HTTP/1.1 200 "), "\(status)")
    for connection in [chat, root, console, open] { await connection.socket.close() }
    await server.stop()
  }

  @Test("per-address limits: open sessions and upgrade requests a second from one address get 429 with Retry-After")
  func perAddressLimits() async throws {
    var sessionLimit = WebSockets.ServerConfig()
    sessionLimit.perAddressLimit = PerAddressLimit(maxConnections: 2)
    let sessions = try await Self.startServer(sessionLimit) { routing in routing.webSocket("/", Self.greeter) }
    let port = try #require(sessions.port)
    let first = try await Self.upgrade(port, "/")
    let second = try await Self.upgrade(port, "/")
    let third = try await Self.upgrade(port, "/")
    #expect(first.head.hasPrefix("HTTP/1.1 101 ") && second.head.hasPrefix("HTTP/1.1 101 "))
    #expect(third.head.hasPrefix("HTTP/1.1 429 ") && third.head.contains("\r\nRetry-After: 1\r\n"), "\(third.head)")
    await first.socket.close()
    // The slot comes back when the server has seen the session end: retry for at most 3 s.
    var fourth = try await Self.upgrade(port, "/")
    let deadline = ContinuousClock.now + .seconds(3)
    while !fourth.head.hasPrefix("HTTP/1.1 101 "), ContinuousClock.now < deadline {
      await fourth.socket.close()
      try await Task.sleep(for: .milliseconds(20))
      fourth = try await Self.upgrade(port, "/")
    }
    #expect(fourth.head.hasPrefix("HTTP/1.1 101 "), "\(fourth.head)")
    for connection in [second, third, fourth] { await connection.socket.close() }
    await sessions.stop()

    // Four requests at once against 2 a second: the bucket holds 2, and refilling one takes 0.5 s, far longer than
    // four concurrent upgrades on loopback take.
    var rateLimit = WebSockets.ServerConfig()
    rateLimit.perAddressLimit = PerAddressLimit(maxHandshakesPerSecond: 2)
    let rate = try await Self.startServer(rateLimit) { routing in routing.webSocket("/", Self.greeter) }
    let ratePort = try #require(rate.port)
    let statuses = try await withThrowingTaskGroup(of: String.self) { group in
      for _ in 0..<4 {
        group.addTask {
          let answer = try await Self.upgrade(ratePort, "/")
          await answer.socket.close()
          return String(answer.head.prefix(12))
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(statuses.filter { $0 == "HTTP/1.1 101" }.count == 2, "\(statuses)")
    #expect(statuses.filter { $0 == "HTTP/1.1 429" }.count == 2, "\(statuses)")
    await rate.stop()
  }

  @Test(
    "ws serve --allowed-origin refuses other browser origins with 403; --same-origin and --allowed-origin exclude each other"
  )
  func wsServeOrigins() async throws {
    try #require(WsCommandTests.available, "build the ws product first")
    let (port, pid) = try await startServerProcess([
      wsBinary, "serve", "--echo", "--port", "0", "--port-file", portFilePlaceholder, "-q",
      "--allowed-origin", "https://a.example", "--allowed-origin", "https://*.b.example",
    ])
    defer { terminate(pid) }
    for (origin, status) in [
      ("https://a.example", "101"), ("https://x.b.example", "101"), ("https://c.example", "403"), (nil, "101"),
    ] {
      let answer = try await Self.upgrade(port, "/", headers: origin.map { ["Origin: \($0)"] } ?? [], greeted: false)
      #expect(answer.head.hasPrefix("HTTP/1.1 \(status) "), "\(origin ?? "none"): \(answer.head)")
      await answer.socket.close()
    }
    let both = await runWS("serve --echo --port 0 --same-origin --allowed-origin https://a.example")
    #expect(both.status != 0 && both.output.contains("exclude each other"), "\(both.output)")
  }

  @Test("over mutual TLS a check sees the client certificate's subject and hands the handler a user made from it")
  func clientCertificate() async throws {
    var application = Application()
    application.install(WebSockets.self) { _ in }
    application.routing { routing in
      routing.webSocket(
        "/",
        beforeUpgrade: { call in
          guard let subject = call.peerCertificate?.subject, subject.contains("CN=wisp test client") else {
            return .forbidden()
          }
          return .accept(User(name: subject))
        }, Self.greeter)
    }
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    configuration.tls = TLSServerConfiguration(
      certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"),
      clientCertificateAuthorityFile: certificate("ca.pem"))
    let server = EmbeddedServer(application, configuration: configuration)
    try await server.start()
    let port = try #require(server.port)
    let greeting = try await client.wss("wss://localhost:\(port)/") { request in
      request.tls.trustRoots = .file(certificate("ca.pem"))
      request.tls.certificateChainFile = certificate("client.pem")
      request.tls.privateKeyFile = certificate("client.key")
    } _: { session in
      try await session.incoming.receive().readText()
    }
    #expect(greeting == "hello /CN=wisp test client")
    await server.stop()
  }
}
