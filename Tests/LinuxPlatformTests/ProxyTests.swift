import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 20, proxies: the client through Debian's tinyproxy (HTTP CONNECT, with and without Basic authentication)
/// and microsocks (SOCKS5, with and without username/password), each started on a loopback port of its own.
@Suite("Client through proxies: tinyproxy and microsocks", .serialized)
struct ProxyTests {
  static let tinyproxy = access("/usr/bin/tinyproxy", X_OK) == 0
  static let microsocks = access("/usr/bin/microsocks", X_OK) == 0

  /// tinyproxy on its own port (optionally with Basic authentication); returns the port and its pid.
  static func startTinyproxy(user: String? = nil, password: String? = nil) async throws -> (port: Int, pid: pid_t) {
    try await LoopbackDaemons.start("tinyproxy") { port in
      let directory = "/tmp/wisp-tinyproxy-\(getpid())-\(port)"
      mkdir(directory, 0o700)
      var config = "Port \(port)\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nLogLevel Critical\nAllow 127.0.0.1\n"
      if let user, let password { config += "BasicAuth \(user) \(password)\n" }
      let path = directory + "/tinyproxy.conf"
      guard let file = fopen(path, "w") else { throw TransportError.closed }
      fputs(config, file)
      fclose(file)
      return spawn(["/usr/bin/tinyproxy", "-d", "-c", path])
    }
  }

  /// microsocks on its own port (optionally with a user and password).
  static func startMicrosocks(user: String? = nil, password: String? = nil) async throws -> (port: Int, pid: pid_t) {
    try await LoopbackDaemons.start("microsocks") { port in
      var arguments = ["/usr/bin/microsocks", "-i", "127.0.0.1", "-p", "\(port)"]
      if let user, let password { arguments += ["-u", user, "-P", password] }
      return spawn(arguments)
    }
  }

  /// An echo server, plain or TLS (the test CA, `localhost`).
  static func startEcho(tls: Bool) async throws -> EmbeddedServer {
    var application = Application()
    application.install(WebSockets.self) { _ in }
    application.routing { routing in
      routing.webSocket("/") { session in
        for try await frame in session.incoming { try await session.send(frame) }
      }
    }
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    if tls {
      configuration.tls = localhostServerTLS()
    }
    let server = EmbeddedServer(application, configuration: configuration)
    try await server.start()
    return server
  }

  /// One echo through `setting` with a client on `engine` (default: no environment).
  static func echo(
    _ url: String, setting: ProxySetting?, engine: LinuxEngine = LinuxEngine(group: testGroup, environment: [:]),
    handshakeTimeout: Duration = .seconds(10)
  ) async throws -> String {
    let client = HttpClient(engine) { config in
      config.install(WebSockets.self) { $0.handshakeTimeout = handshakeTimeout }
    }
    return try await client.webSocket(url) { request in
      request.proxy = setting
      request.tls.trustRoots = .file(certificate("ca.pem"))
    } _: { session in
      try await session.send("through")
      return try await session.incoming.receive().readText()
    }
  }

  /// The ``ProxyError`` at the root of `error`, if any.
  static func proxyError(_ error: any Error) -> ProxyError? {
    if let proxy = error as? ProxyError { return proxy }
    return (error as? WebSocketException)?.cause.flatMap(proxyError)
  }

  @Test(
    "HTTP CONNECT through tinyproxy: ws and wss (certificate and host name verified end to end)",
    .enabled(if: tinyproxy, "tinyproxy is not installed (./scripts/test installs it)"))
  func httpConnect() async throws {
    let proxy = try await Self.startTinyproxy()
    defer { terminate(proxy.pid) }
    let plain = try await Self.startEcho(tls: false)
    let secure = try await Self.startEcho(tls: true)
    let setting = ProxySetting.fixed(try #require(Proxy(url: "http://127.0.0.1:\(proxy.port)")))
    #expect(try await Self.echo("ws://127.0.0.1:\(plain.port ?? 0)/", setting: setting) == "through")
    #expect(try await Self.echo("wss://localhost:\(secure.port ?? 0)/", setting: setting) == "through")
    await plain.stop()
    await secure.stop()
  }

  /// An https:// proxy: TLS (the test CA's `localhost` certificate) in front of the proxy on `port`, relaying bytes
  /// both ways.
  static func startTLSRelay(to port: Int) async throws -> (port: Int, listener: SocketListener) {
    let context = try TLSContext(
      .server(
        localhostServerTLS()))
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    Task {
      while let connection = try? await listener.accept() {
        Task(executorPreference: connection.loop) {
          guard let tls = try? await TLSTransport.accept(over: connection, context: context),
            let upstream = try? await SocketConnector.connect(
              to: .host("127.0.0.1", port: port), on: connection.loop)
          else {
            await connection.close()
            return
          }
          async let down: Void = relay(from: tls, to: upstream)
          async let up: Void = relay(from: upstream, to: tls)
          _ = await (down, up)
          await tls.close()
          await upstream.close()
        }
      }
    }
    return (listener.localAddress.port ?? 0, listener)
  }

  static func relay(from source: any Transport, to destination: any Transport) async {
    while let chunk = try? await source.read({ Array($0) }), !chunk.isEmpty {
      guard (try? await destination.write(chunk)) != nil else { return }
    }
    try? await destination.shutdownOutput()
  }

  @Test(
    "an https:// proxy: TLS to the proxy (verified as localhost), then ws, or wss with the server's TLS inside it",
    .enabled(if: tinyproxy, "tinyproxy is not installed (./scripts/test installs it)"))
  func httpsProxy() async throws {
    let proxy = try await Self.startTinyproxy()
    defer { terminate(proxy.pid) }
    let relay = try await Self.startTLSRelay(to: proxy.port)
    let plain = try await Self.startEcho(tls: false)
    let secure = try await Self.startEcho(tls: true)
    var httpsProxy = try #require(Proxy(url: "https://localhost:\(relay.port)"))
    httpsProxy.tls = TLSClientConfiguration()
    httpsProxy.tls?.trustRoots = .file(certificate("ca.pem"))
    let setting = ProxySetting.fixed(httpsProxy)
    #expect(try await Self.echo("ws://127.0.0.1:\(plain.port ?? 0)/", setting: setting) == "through")
    #expect(try await Self.echo("wss://localhost:\(secure.port ?? 0)/", setting: setting) == "through")
    // The proxy's certificate is verified too: 127.0.0.2 reaches the relay, but the certificate does not name it.
    var wrongHost = httpsProxy
    wrongHost.host = "127.0.0.2"
    let wrongName = ProxySetting.fixed(wrongHost)
    await #expect {
      _ = try await Self.echo("ws://127.0.0.1:\(plain.port ?? 0)/", setting: wrongName)
    } throws: { error in
      "\(error)".contains("127.0.0.2")
    }
    await relay.listener.close()
    await plain.stop()
    await secure.stop()
  }

  @Test(
    "HTTP CONNECT with Basic authentication: the right credentials pass, wrong ones are a 407 ProxyError",
    .enabled(if: tinyproxy, "tinyproxy is not installed (./scripts/test installs it)"))
  func httpConnectAuthentication() async throws {
    let proxy = try await Self.startTinyproxy(user: "wisp", password: "s3cret")
    defer { terminate(proxy.pid) }
    let server = try await Self.startEcho(tls: true)
    let good = ProxySetting.fixed(try #require(Proxy(url: "http://wisp:s3cret@127.0.0.1:\(proxy.port)")))
    #expect(try await Self.echo("wss://localhost:\(server.port ?? 0)/", setting: good) == "through")
    let wrong = ProxySetting.fixed(try #require(Proxy(url: "http://wisp:guess@127.0.0.1:\(proxy.port)")))
    do {
      _ = try await Self.echo("wss://localhost:\(server.port ?? 0)/", setting: wrong)
      Issue.record("wrong credentials must fail")
    } catch {
      #expect(
        Self.proxyError(error) == .authenticationRequired(proxy: "http://wisp@127.0.0.1:\(proxy.port)"), "\(error)")
    }
    await server.stop()
  }

  @Test(
    "SOCKS5 through microsocks: socks5h (the proxy resolves localhost) and socks5, ws and wss",
    .enabled(if: microsocks, "microsocks is not installed (./scripts/test installs it)"))
  func socks5() async throws {
    let proxy = try await Self.startMicrosocks()
    defer { terminate(proxy.pid) }
    let plain = try await Self.startEcho(tls: false)
    let secure = try await Self.startEcho(tls: true)
    for scheme in ["socks5h", "socks5"] {
      let setting = ProxySetting.fixed(try #require(Proxy(url: "\(scheme)://127.0.0.1:\(proxy.port)")))
      #expect(try await Self.echo("ws://localhost:\(plain.port ?? 0)/", setting: setting) == "through")
      #expect(try await Self.echo("wss://localhost:\(secure.port ?? 0)/", setting: setting) == "through")
    }
    await plain.stop()
    await secure.stop()
  }

  @Test(
    "SOCKS5 with a user and password: right ones pass, wrong ones are authenticationFailed, none is refused",
    .enabled(if: microsocks, "microsocks is not installed (./scripts/test installs it)"))
  func socks5Authentication() async throws {
    let proxy = try await Self.startMicrosocks(user: "wisp", password: "s3cret")
    defer { terminate(proxy.pid) }
    let server = try await Self.startEcho(tls: false)
    let url = "ws://127.0.0.1:\(server.port ?? 0)/"
    let good = ProxySetting.fixed(try #require(Proxy(url: "socks5h://wisp:s3cret@127.0.0.1:\(proxy.port)")))
    #expect(try await Self.echo(url, setting: good) == "through")
    let wrong = ProxySetting.fixed(try #require(Proxy(url: "socks5h://wisp:guess@127.0.0.1:\(proxy.port)")))
    await #expect {
      _ = try await Self.echo(url, setting: wrong)
    } throws: { Self.proxyError($0) == .authenticationFailed(proxy: "socks5h://wisp@127.0.0.1:\(proxy.port)") }
    let none = ProxySetting.fixed(try #require(Proxy(url: "socks5h://127.0.0.1:\(proxy.port)")))
    await #expect {
      _ = try await Self.echo(url, setting: none)
    } throws: { Self.proxyError($0) == .noAcceptableAuthentication(proxy: "socks5h://127.0.0.1:\(proxy.port)") }
    await server.stop()
  }

  @Test(
    "from the environment: https_proxy for wss, http_proxy for ws, no_proxy bypasses, lower case wins",
    .enabled(if: tinyproxy && microsocks, "tinyproxy and microsocks are not installed (./scripts/test installs them)"))
  func environment() async throws {
    let http = try await Self.startTinyproxy(user: "wisp", password: "s3cret")
    let socks = try await Self.startMicrosocks()
    defer {
      terminate(http.pid)
      terminate(socks.pid)
    }
    let plain = try await Self.startEcho(tls: false)
    let secure = try await Self.startEcho(tls: true)
    let dead = try await LoopbackDaemons.freePort()
    let environment = [
      "http_proxy": "http://wisp:s3cret@127.0.0.1:\(http.port)", "HTTP_PROXY": "http://127.0.0.1:\(dead)",
      "HTTPS_PROXY": "socks5h://127.0.0.1:\(socks.port)",
    ]
    let engine = LinuxEngine(group: testGroup, environment: environment)
    #expect(try await Self.echo("ws://127.0.0.1:\(plain.port ?? 0)/", setting: nil, engine: engine) == "through")
    #expect(try await Self.echo("wss://localhost:\(secure.port ?? 0)/", setting: nil, engine: engine) == "through")
    // A proxy that is not there: used (and failing) unless no_proxy names the host, or the setting is direct.
    let deadEnvironment = ["all_proxy": "http://127.0.0.1:\(dead)"]
    await #expect(throws: (any Error).self) {
      _ = try await Self.echo(
        "ws://127.0.0.1:\(plain.port ?? 0)/", setting: nil,
        engine: LinuxEngine(group: testGroup, environment: deadEnvironment))
    }
    for noProxy in ["127.0.0.1", "127.0.0.0/8", "localhost,127.0.0.1:\(plain.port ?? 0)", "*"] {
      let bypassing = LinuxEngine(group: testGroup, environment: deadEnvironment.merging(["NO_PROXY": noProxy]) { $1 })
      #expect(
        try await Self.echo("ws://127.0.0.1:\(plain.port ?? 0)/", setting: nil, engine: bypassing) == "through",
        "\(noProxy)")
    }
    let ignoring = LinuxEngine(group: testGroup, environment: deadEnvironment)
    #expect(try await Self.echo("ws://127.0.0.1:\(plain.port ?? 0)/", setting: .direct, engine: ignoring) == "through")
    await plain.stop()
    await secure.stop()
  }

  @Test("a proxy that answers garbage, or stalls, gives a typed error within the connect timeout")
  func brokenProxies() async throws {
    let server = try await Self.startEcho(tls: false)
    let url = "ws://127.0.0.1:\(server.port ?? 0)/"
    let answers: [(bytes: [UInt8], kind: String)] = [
      (Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8), "http"), (Array("HTTP/1.1 200 OK\r\n\r\nextra".utf8), "http"),
      ([5, 0xFF], "socks5h"), ([0x48, 0x54], "socks5h"), ([5, 0, 5, 0, 0, 9, 9, 9, 9, 9, 9, 9], "socks5h"),
    ]
    for (bytes, kind) in answers {
      // A "proxy" that writes its answer as soon as a client connects, then waits for it to leave.
      let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0])
      let answering = Task {
        guard let socket = try? await listener.accept() else { return }
        try? await withTaskExecutorPreference(socket.loop) {
          try await socket.write(bytes)
          _ = try await readToEnd(socket)
        }
        await socket.close()
      }
      let setting = ProxySetting.fixed(
        try #require(Proxy(url: "\(kind)://127.0.0.1:\(listener.localAddress.port ?? 0)")))
      await #expect {
        _ = try await Self.echo(url, setting: setting, handshakeTimeout: .seconds(2))
      } throws: { error in
        switch Self.proxyError(error) {
        case .malformedResponse?, .noAcceptableAuthentication?, .socksConnectFailed?: true
        default: false
        }
      }
      await listener.close()
      answering.cancel()
    }
    // A proxy that accepts and never answers: the connect timeout.
    let silent = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0])
    let started = ContinuousClock.now
    await #expect(throws: (any Error).self) {
      _ = try await Self.echo(
        url, setting: .fixed(Proxy(kind: .http, host: "127.0.0.1", port: silent.localAddress.port ?? 0)),
        handshakeTimeout: .seconds(1))
    }
    #expect(
      ContinuousClock.now - started < .seconds(8), "the 1 s connect timeout bounds a silent proxy (default: 10 s)")
    await silent.close()
    await server.stop()
  }

  @Test("ws connect --proxy", .enabled(if: tinyproxy, "tinyproxy is not installed"))
  func wsConnectProxy() async throws {
    try #require(WsCommandTests.available, "build the ws product first")
    let proxy = try await Self.startTinyproxy()
    defer { terminate(proxy.pid) }
    let server = try await Self.startEcho(tls: false)
    let result = await runWS(
      "connect ws://127.0.0.1:\(server.port ?? 0)/ --proxy http://127.0.0.1:\(proxy.port)", input: "via proxy\n")
    #expect(result.status == 0 && result.output.contains("via proxy"), "\(result.output)")
    // A proxy that is not there: exit status 2 (cannot connect), at once.
    let dead = try await LoopbackDaemons.freePort()
    let refused = await runWS(
      "connect ws://127.0.0.1:\(server.port ?? 0)/ --proxy socks5h://127.0.0.1:\(dead)", input: "x\n")
    #expect(refused.status == 2, "\(refused.output)")
    await server.stop()
  }
}
