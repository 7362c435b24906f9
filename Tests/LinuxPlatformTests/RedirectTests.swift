import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 20, redirects: the client follows 3xx answers to its upgrade request only when asked, never from wss to ws,
/// at most maxRedirects hops, and without credentials across servers. The redirecting servers are embedded servers
/// whose upgrade checks answer the 3xx.
@Suite("Client redirects")
struct RedirectTests {
  /// A server whose `/` upgrades and answers with the `Authorization` and `Cookie` headers it received, and whose
  /// other paths redirect as `redirects` says (path → (status, Location)).
  static func start(
    tls: Bool = false, redirects: @escaping @Sendable (String, Int) -> (Int, String)? = { _, _ in nil }
  ) async throws -> EmbeddedServer {
    let port = Mutex(0)
    var application = Application()
    application.install(WebSockets.self) { _ in }
    application.routing { routing in
      routing.webSocket(
        "/{path...}",
        beforeUpgrade: { call in
          guard let (status, location) = redirects(call.request.path, port.withLock { $0 }) else { return .accept() }
          return .refuse(status: status, headers: ["Location": location])
        }
      ) { session in
        let headers = session.call.request.headers
        try await session.send(
          .text(
            "path=\(session.call.request.target) auth=\(headers["Authorization"] ?? "-") cookie=\(headers["Cookie"] ?? "-")"
          ))
      }
    }
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    if tls {
      configuration.tls = localhostServerTLS()
    }
    let server = EmbeddedServer(application, configuration: configuration)
    try await server.start()
    port.withLock { $0 = server.port ?? 0 }
    return server
  }

  static func greeting(_ url: String, maxRedirects: Int?) async throws -> String {
    try await client.webSocket(url) { request in
      request.maxRedirects = maxRedirects
      request.headers.add(name: "Authorization", value: "Bearer t")
      request.headers.add(name: "Cookie", value: "s=1")
      request.tls.trustRoots = .file(certificate("ca.pem"))
    } _: { session in
      try await session.incoming.receive().readText()
    }
  }

  @Test("off by default: a 302 fails with a WebSocketException carrying the status and Location")
  func offByDefault() async throws {
    let server = try await Self.start { path, port in path == "/old" ? (302, "/new") : nil }
    let port = try #require(server.port)
    do {
      _ = try await Self.greeting("ws://127.0.0.1:\(port)/old", maxRedirects: nil)
      Issue.record("a redirect must not be followed by default")
    } catch let error as WebSocketException {
      #expect(error.status == 302)
      #expect(error.redirectLocation == "/new")
      #expect(error.description.contains("redirected to /new"), "\(error)")
    }
    await server.stop()
  }

  @Test(
    "followed when enabled, for each redirect status and Location form; credentials kept on the same server",
    arguments: [301, 302, 303, 307, 308])
  func followed(status: Int) async throws {
    let server = try await Self.start { path, port in
      switch path {
      case "/a": (status, "/b?x=1")
      case "/b": (status, "ws://127.0.0.1:\(port)/c/d")
      case "/c/d": (status, "e")
      default: nil
      }
    }
    let port = try #require(server.port)
    let greeting = try await Self.greeting("ws://127.0.0.1:\(port)/a", maxRedirects: 3)
    #expect(greeting == "path=/c/e auth=Bearer t cookie=s=1")
    await server.stop()
  }

  @Test("to another server: Authorization and Cookie are not sent on")
  func crossServerDropsCredentials() async throws {
    let target = try await Self.start()
    let targetPort = try #require(target.port)
    let origin = try await Self.start { path, _ in path == "/go" ? (307, "ws://127.0.0.1:\(targetPort)/there") : nil }
    let greeting = try await Self.greeting("ws://127.0.0.1:\(origin.port ?? 0)/go", maxRedirects: 1)
    #expect(greeting == "path=/there auth=- cookie=-")
    await origin.stop()
    await target.stop()
  }

  @Test("the hop limit: a redirect loop fails after maxRedirects hops")
  func hopLimit() async throws {
    let hops = Mutex(0)
    let server = try await Self.start { path, _ in
      guard path.hasPrefix("/loop") else { return nil }
      hops.withLock { $0 += 1 }
      return (302, path == "/loop1" ? "/loop2" : "/loop1")
    }
    do {
      _ = try await Self.greeting("ws://127.0.0.1:\(server.port ?? 0)/loop1", maxRedirects: 3)
      Issue.record("a loop must fail")
    } catch let error as WebSocketException {
      #expect(error.description.contains("too many redirects"), "\(error)")
    }
    #expect(hops.withLock { $0 } == 4)  // the first request and three followed redirects
    await server.stop()
  }

  @Test("never from wss to ws")
  func refusesDowngrade() async throws {
    let plain = try await Self.start()
    let secure = try await Self.start(tls: true) { path, _ in
      path == "/down" ? (301, "ws://127.0.0.1:\(plain.port ?? 0)/") : nil
    }
    do {
      _ = try await Self.greeting("wss://localhost:\(secure.port ?? 0)/down", maxRedirects: 5)
      Issue.record("a downgrade must be refused")
    } catch let error as WebSocketException {
      #expect(error.description.contains("would drop TLS"), "\(error)")
    }
    await secure.stop()
    await plain.stop()
  }
}
