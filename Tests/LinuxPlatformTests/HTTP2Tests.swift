import Glibc
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// WebSockets over HTTP/2 (RFC 8441) against independent peers, each started on loopback ports of its own: Python's
/// `h2` (PyPI) as a client that is not a proxy, nghttpx (Debian's nghttp2-proxy) as a proxy that speaks RFC 8441 to
/// its backends, and headless Chromium on a page served over HTTP/2.
@Suite("WebSockets over HTTP/2 (RFC 8441)", .serialized)
struct HTTP2Tests {
  static var h2Available: Bool {
    PythonInteropTests.available && access(repositoryRoot + ".venv/lib", R_OK) == 0
      && system("'\(venvPython)' -c 'import h2' 2>/dev/null") == 0
  }
  static let nghttpx: String? = ["/usr/sbin/nghttpx", "/usr/bin/nghttpx"].first { access($0, X_OK) == 0 }

  /// Which transports the server's sessions ran on (their peer descriptions), and how each ended.
  final class Seen: Sendable {
    let peers = Mutex<[String]>([])
    let closes = Mutex<[CloseReason]>([])
    var overHTTP2: Int { peers.withLock { $0.filter { $0.contains("h2 stream") }.count } }
  }

  /// An echo route at `/echo` (permessage-deflate installed), a route that speaks only `chat`, and a page.
  static func application(_ seen: Seen, origins: [String]? = nil) -> Application {
    var application = Application()
    application.install(WebSockets.self) { config in
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
      if let origins { config.originPolicy = .allowList(origins) }
    }
    application.routing { routing in
      routing.webSocket("/echo") { session in
        seen.peers.withLock { $0.append(session.call.remoteAddress) }
        for try await frame in session.incoming { try await session.send(frame) }
        let reason = await session.closeReason
        seen.closes.withLock { $0.append(reason) }
      }
      routing.webSocket("/chat", protocol: "chat") { _ in }
      routing.get("/health") { _ in .text("ok") }
    }
    return application
  }

  static func tls(_ configuration: inout EmbeddedServer.Configuration) {
    configuration.tls = localhostServerTLS()
  }

  static func priorKnowledge(_ configuration: inout EmbeddedServer.Configuration) {
    configuration.http2.acceptsPriorKnowledge = true
  }

  @Test("Python h2 opens many extended CONNECT streams on one TLS connection; one that never reads stalls alone")
  func pythonH2ManyStreams() async throws {
    try #require(Self.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = Seen()
    try await withServer(Self.application(seen), configure: Self.tls) { server, port in
      let result = await shell(
        "timeout 120 '\(venvPython)' '\(fixtures)h2_websocket_client.py' --port \(port) --tls "
          + "--ca '\(certificate("ca.pem"))' --streams 8 --stalled 2>&1")
      // The stalled stream's peer could send only what the windows and the session's bounded queues hold (about
      // 1.5 MB of a 4 MiB attempt), and the eight others echoed and closed cleanly meanwhile.
      #expect(result.output.hasPrefix("ok 8 streams, stalled=sent "), "python said: \(result.output)")
      #expect(result.output.contains("open"), "the stalled stream stays open until the client leaves: \(result.output)")
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
    }
    #expect(seen.overHTTP2 == 9, "\(seen.peers.withLock { $0 })")
    #expect(seen.closes.withLock { $0.filter { $0.code == .normal }.count } == 8)
  }

  @Test("h2c with prior knowledge and HTTP/1.1 on one plain listener; curl's HTTP/2 GET of a plain route")
  func priorKnowledge() async throws {
    try #require(Self.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = Seen()
    try await withServer(Self.application(seen), configure: HTTP2Tests.priorKnowledge) { _, port in
      let h2 = await shell(
        "timeout 60 '\(venvPython)' '\(fixtures)h2_websocket_client.py' --port \(port) --streams 3 2>&1")
      #expect(h2.output.hasPrefix("ok 3 streams"), "python h2 said: \(h2.output)")
      let http1 = await shell("'\(venvPython)' '\(fixtures)echo_client.py' ws://127.0.0.1:\(port)/echo 2>&1")
      #expect(http1.output.hasPrefix("ok close 1000"), "python websockets said: \(http1.output)")
      let curl = await shell(
        "curl -s --max-time 10 --http2-prior-knowledge -w ' %{http_code} %{http_version}' http://127.0.0.1:\(port)/health"
      )
      #expect(curl.output == "ok 200 2", "curl said: \(curl.output)")
    }
    #expect(seen.overHTTP2 == 3)
    #expect(seen.peers.withLock { $0.count } == 4)
  }

  @Test("refusals over HTTP/2 have HTTP/1.1's statuses: no route 404, an unoffered protocol 404, an origin 403")
  func refusals() async throws {
    try #require(Self.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = Seen()
    let application = Self.application(seen, origins: ["https://good.example"])
    try await withServer(application, configure: Self.tls) { _, port in
      func status(_ arguments: String) async -> String {
        await shell(
          "timeout 60 '\(venvPython)' '\(fixtures)h2_websocket_client.py' --port \(port) --tls "
            + "--ca '\(certificate("ca.pem"))' \(arguments) 2>&1"
        ).output
      }
      #expect(await status("--path /nowhere --expect-status 404").hasPrefix("ok status 404"))
      #expect(await status("--path /chat --expect-status 404").hasPrefix("ok status 404"))
      #expect(await status("--path /chat --subprotocol chat --expect-status 200").hasPrefix("ok status 200"))
      #expect(await status("--origin https://evil.example --expect-status 403").hasPrefix("ok status 403"))
      #expect(await status("--origin https://good.example --expect-status 200").hasPrefix("ok status 200"))
    }
  }

  @Test("a session that fails (an unmasked frame) sends its close frame 1002, then resets its stream with CANCEL")
  func failedSessionResetsItsStream() async throws {
    try #require(Self.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = Seen()
    try await withServer(Self.application(seen), configure: Self.tls) { server, port in
      let result = await shell(
        "timeout 60 '\(venvPython)' '\(fixtures)h2_websocket_client.py' --port \(port) --tls "
          + "--ca '\(certificate("ca.pem"))' --protocol-error 2>&1")
      #expect(result.output.hasPrefix("ok close 1002 reset 8"), "python said: \(result.output)")
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
    }
  }

  @Test("a graceful stop sends GOAWAY and closes each HTTP/2 session with 1001")
  func gracefulStop() async throws {
    try #require(Self.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = Seen()
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    Self.tls(&configuration)
    let server = EmbeddedServer(Self.application(seen), configuration: configuration)
    try await server.start()
    let port = try #require(server.port)
    let output = "/tmp/wisp-h2-stop-\(getpid())-\(port)"
    defer { unlink(output) }
    let client = spawn([
      "/bin/sh", "-c",
      "'\(venvPython)' '\(fixtures)h2_websocket_client.py' --port \(port) --tls --ca '\(certificate("ca.pem"))' "
        + "--until-shutdown > \(output) 2>&1",
    ])
    defer { terminate(client) }
    // The session is open and its handler echoes (the client says "ready" once its message came back): a stop
    // before the handler ran would close the session before the echo, which is not what this test is about.
    #expect(await waitUntil(.seconds(30)) { ((try? String(contentsOfFile: output)) ?? "").contains("ready") })
    #expect(server.server.openSessionCount == 1)
    let started = ContinuousClock.now
    await server.stop()
    #expect(ContinuousClock.now - started < .seconds(5))
    var said = ""
    _ = await waitUntil(.seconds(20)) {
      said = (try? String(contentsOfFile: output)) ?? ""
      return said.contains("ok") || said.contains("fail")
    }
    #expect(said.contains("ok close 1001 goaway 0"), "python said: \(said)")
  }

  @Test("nghttpx turns Python websockets' HTTP/1.1 upgrades into RFC 8441 streams to this server (h2c and TLS)")
  func behindNghttpx() async throws {
    try #require(Self.nghttpx != nil, "nghttpx is missing: ./scripts/test installs Debian's nghttp2-proxy")
    try #require(PythonInteropTests.available, "Python websockets is missing: run ./scripts/test")
    for useTLS in [false, true] {
      let seen = Seen()
      try await withServer(
        Self.application(seen),
        configure: useTLS ? Self.tls : Self.priorKnowledge
      ) { _, backendPort in
        let directory = "/tmp/wisp-nghttpx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
        defer { _ = system("rm -rf '\(directory)'") }
        let backend =
          useTLS
          ? "backend=127.0.0.1,\(backendPort);;proto=h2;tls;sni=localhost\ncacert=\(certificate("ca.pem"))\n"
          : "backend=127.0.0.1,\(backendPort);;proto=h2\n"
        let (port, proxy) = try await LoopbackDaemons.start("nghttpx") { port in
          let config = "frontend=127.0.0.1,\(port);no-tls\n\(backend)workers=1\nerrorlog-file=\(directory)/error.log\n"
          try config.write(toFile: "\(directory)/nghttpx.conf")
          return spawn([Self.nghttpx!, "--conf=\(directory)/nghttpx.conf"])
        }
        defer { terminate(proxy) }
        for _ in 0..<3 {
          let result = await shell("'\(venvPython)' '\(fixtures)echo_client.py' ws://127.0.0.1:\(port)/echo 2>&1")
          #expect(result.output.hasPrefix("ok close 1000"), "python through nghttpx (TLS \(useTLS)): \(result.output)")
        }
      }
      #expect(seen.overHTTP2 == 3, "TLS \(useTLS): \(seen.peers.withLock { $0 })")
    }
  }
}

extension String {
  /// Writes the string to `path` (created or truncated), for the configuration files of the peers the tests start.
  func write(toFile path: String) throws {
    guard let file = fopen(path, "w") else { throw TransportError.closed }
    defer { fclose(file) }
    fputs(self, file)
  }

  init(contentsOfFile path: String) throws {
    guard let file = fopen(path, "r") else { throw TransportError.closed }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = fread(&buffer, 1, buffer.count, file)
      if count <= 0 { break }
      bytes += buffer[0..<count]
    }
    self = String(decoding: bytes, as: UTF8.self)
  }
}

/// A page served over HTTP/2 opens `wss://` to its own origin in headless Chromium and Firefox ESR (Debian's, installed
/// by ./scripts/test): the socket rides the page's connection as an extended CONNECT stream (RFC 8441), echoes
/// text, binary and a compressed message, and closes cleanly on both sides. Chromium trusts the test server by its
/// key's pin (a flag); Firefox by the test CA in its profile's NSS database (certutil).
@Suite("WebSockets over HTTP/2 in headless browsers", .serialized)
struct HTTP2BrowserTests {
  static let firefoxPath: String? = ["/usr/bin/firefox-esr", "/usr/bin/firefox"].first { access($0, X_OK) == 0 }
  static let certutil: String? = ["/usr/bin/certutil"].first { access($0, X_OK) == 0 }

  @Test(
    "Chromium: a page loaded over h2 opens wss:// on the same connection; text, binary, deflate echo; 1000",
    .enabled(if: BrowserOriginTests.chromium != nil, "Chromium is not installed (./scripts/test installs it)"))
  func chromium() async throws {
    try await Self.run { port, profile in
      let pin = try String(contentsOfFile: certificate("server.pin")).filter { !$0.isWhitespace }
      return [
        BrowserOriginTests.chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-extensions", "--user-data-dir=\(profile)", "--ignore-certificate-errors-spki-list=\(pin)",
        "https://127.0.0.1:\(port)/page",
      ]
    }
  }

  @Test(
    "Firefox ESR: a page loaded over h2 opens wss:// on the same connection; text, binary, deflate echo; 1000",
    .enabled(
      if: firefoxPath != nil && certutil != nil,
      "Firefox ESR or certutil is not installed (./scripts/test installs them)"))
  func firefox() async throws {
    try await Self.run { port, profile in
      mkdir(profile, 0o700)
      let database = "sql:\(profile)"
      let made = await shell(
        "'\(Self.certutil!)' -N -d \(database) --empty-password && '\(Self.certutil!)' -A -d \(database) -n wisp-test-ca "
          + "-t C,, -i '\(certificate("ca.pem"))' 2>&1")
      #expect(made.status == 0, "certutil: \(made.output)")
      let preferences = """
        user_pref("browser.shell.checkDefaultBrowser", false);
        user_pref("browser.startup.homepage_override.mstone", "ignore");
        user_pref("datareporting.policy.dataSubmissionEnabled", false);
        user_pref("network.http.http2.websockets", true);
        """
      try preferences.write(toFile: "\(profile)/user.js")
      return [Self.firefoxPath!, "--headless", "--no-remote", "--profile", profile, "https://127.0.0.1:\(port)/page"]
    }
  }

  /// Serves the page and the echo route over TLS with HTTP/2, starts the browser `command(port, profile)` returns,
  /// and checks the page's report and what the server saw.
  static func run(_ command: (Int, String) async throws -> [String]) async throws {
    let seen = HTTP2Tests.Seen()
    let report = Mutex<String?>(nil)
    let extensions = Mutex<[String]>([])
    var application = HTTP2Tests.application(seen)
    application.routing { routing in
      routing.get("/report") { call in
        report.withLock { $0 = call.query("result") }
        return .text("thanks")
      }
      routing.get("/page") { _ in .html(Self.page) }
      routing.webSocket("/deflate") { session in
        seen.peers.withLock { $0.append(session.call.remoteAddress) }
        extensions.withLock { $0 = session.extensions.map(\.name) }
        for try await frame in session.incoming { try await session.send(frame) }
        let reason = await session.closeReason
        seen.closes.withLock { $0.append(reason) }
      }
    }
    try await withServer(application, configure: HTTP2Tests.tls) { server, port in
      let profile = "/tmp/wisp-browser-h2-\(getpid())-\(port)"
      defer { _ = system("rm -rf '\(profile)'") }
      let browser = spawn(try await command(port, profile))
      defer { terminate(browser) }
      _ = await waitUntil(.seconds(90)) { report.withLock { $0 } != nil }
      let result = report.withLock { $0 }
      #expect(
        result == "text:hello h2;binary:1,2,3,250;long:5000;ext=permessage-deflate;close=1000;clean=true",
        "\(result ?? "no report")")
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
    }
    #expect(seen.overHTTP2 == 1, "the browser's socket arrived as: \(seen.peers.withLock { $0 })")
    #expect(extensions.withLock { $0 } == ["permessage-deflate"])
    #expect(seen.closes.withLock { $0 } == [CloseReason(.normal, "page done")])
  }

  static let page = """
    <!doctype html><title>wisp h2</title><script>
    const results = [];
    const ws = new WebSocket('wss://' + location.host + '/deflate');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => { ws.send('hello h2'); ws.send(new Uint8Array([1, 2, 3, 250])); ws.send('x'.repeat(5000)); };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') {
        results.push(event.data.length > 100 ? 'long:' + event.data.length : 'text:' + event.data);
      } else {
        results.push('binary:' + Array.from(new Uint8Array(event.data)).join(','));
      }
      if (results.length === 3) ws.close(1000, 'page done');
    };
    ws.onclose = (event) => fetch('/report?result=' + encodeURIComponent(
      results.join(';') + ';ext=' + ws.extensions + ';close=' + event.code + ';clean=' + event.wasClean));
    </script>
    """
}

/// Hostile HTTP/2 peers (Fixtures/h2_hostile_client.py, raw frames over h2c) cost bounded time and memory: each
/// connection ends within the handshake timeout or at once, and the server serves the next client.
@Suite("Hostile HTTP/2 peers", .serialized)
struct HTTP2HostilePeerTests {
  @Test(
    "silence, an unfinished header block, rapid resets, SETTINGS and PING floods: each connection ends, bounded",
    arguments: [
      ("silent", "goaway none"), ("open-headers", "goaway 1"), ("rapid-reset", "goaway 2"),
      ("settings-flood", ""), ("ping-flood", ""),
    ])
  func hostile(mode: String, goaway: String) async throws {
    try #require(HTTP2Tests.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = HTTP2Tests.Seen()
    var application = HTTP2Tests.application(seen)
    application.install(WebSockets.self) { $0.handshakeTimeout = .seconds(2) }
    try await withServer(application, configure: HTTP2Tests.priorKnowledge) { server, port in
      let result = await shell(
        "timeout 60 '\(venvPython)' '\(fixtures)h2_hostile_client.py' \(mode) --port \(port) --limit 15 2>&1")
      #expect(result.output.hasPrefix("closed after "), "\(mode): \(result.output)")
      #expect(result.output.contains(goaway), "\(mode): \(result.output)")
      let seconds = Double(result.output.split(separator: " ").dropFirst(2).first ?? "") ?? 99
      #expect(seconds < 4, "\(mode) held the connection for \(seconds) s (handshake timeout 2 s)")
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
      // The server goes on serving.
      await Self.serves(port)
    }
  }

  @Test("a stream whose window the client never opens: the keepalive ping cannot go, the session fails, RST CANCEL")
  func zeroWindow() async throws {
    try #require(HTTP2Tests.h2Available, "Python h2 is missing: run ./scripts/test, which installs it into .venv")
    let seen = HTTP2Tests.Seen()
    var application = HTTP2Tests.application(seen)
    application.install(WebSockets.self) { config in
      config.pingPeriod = .milliseconds(300)
      config.timeout = .milliseconds(700)
    }
    try await withServer(application, configure: HTTP2Tests.priorKnowledge) { server, port in
      let result = await shell(
        "timeout 60 '\(venvPython)' '\(fixtures)h2_hostile_client.py' zero-window --port \(port) --limit 15 2>&1")
      #expect(result.output.hasPrefix("reset after "), "\(result.output)")
      #expect(result.output.contains(", code 8"), "RST_STREAM CANCEL: \(result.output)")
      let seconds = Double(result.output.split(separator: " ").dropFirst(2).first ?? "") ?? 99
      #expect(seconds < 5, "the stalled session lasted \(seconds) s (ping every 0.3 s, timeout 0.7 s)")
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
      await Self.serves(port)
    }
  }

  /// A fresh client is echoed on `port` (after a hostile one).
  static func serves(_ port: Int) async {
    let next = await shell("timeout 60 '\(venvPython)' '\(fixtures)h2_websocket_client.py' --port \(port) 2>&1")
    #expect(next.output.hasPrefix("ok 1 streams"), "after a hostile peer: \(next.output)")
  }
}

/// This project's client over HTTP/2 (RFC 8441): the plugin's `http2` setting, one connection per origin shared by
/// the sessions, the fallback to HTTP/1.1, and through nghttpx to an independent server (Python's websockets).
@Suite("The client over HTTP/2 (RFC 8441)", .serialized)
struct HTTP2ClientTests {
  static func client(_ preference: HTTP2Preference) -> HttpClient {
    HttpClient(LinuxEngine(group: testGroup)) { config in
      config.install(WebSockets.self) { plugin in
        plugin.http2 = preference
        plugin.extensions { $0.install(WebSocketDeflateExtension.self) }
      }
      config.defaultRequest { $0.tls.trustRoots = .file(certificate("ca.pem")) }
    }
  }

  /// TLS without HTTP/2 (ALPN selects http/1.1).
  static func withoutHTTP2(_ configuration: inout EmbeddedServer.Configuration) {
    HTTP2Tests.tls(&configuration)
    configuration.http2.enabled = false
  }

  /// HTTP/2 without `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
  static func withoutExtendedConnect(_ configuration: inout EmbeddedServer.Configuration) {
    HTTP2Tests.tls(&configuration)
    configuration.http2.webSockets = false
  }

  /// The TCP port of the client's side in a server's peer description (`127.0.0.1:41234 (TLS) h2 stream 3`).
  static func clientPort(_ peer: String) -> Substring {
    peer.split(separator: " ").first?.split(separator: ":").last ?? ""
  }

  @Test("required: sessions, at once and one after another, share one connection; text, 1 MiB, deflate, 1000")
  func sharedConnection() async throws {
    let seen = HTTP2Tests.Seen()
    let client = Self.client(.required)
    try await withServer(HTTP2Tests.application(seen), configure: HTTP2Tests.tls) { server, port in
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<6 {
          group.addTask {
            let reason = try await client.webSocket("wss://localhost:\(port)/echo") { session in
              #expect(session.call.response.status == 200)
              #expect(session.extensions.map(\.name) == ["permessage-deflate"])
              try await session.send("hello \(index)")
              #expect(try await session.incoming.receive().readText() == "hello \(index)")
              let payload = pattern(1 << 20)
              try await session.send(payload)
              #expect(try await session.incoming.receive().data == payload)
              return try await session.close(CloseReason(.normal, "done \(index)"))
            }
            #expect(reason == CloseReason(.normal, "done \(index)"))
          }
        }
        try await group.waitForAll()
      }
      // One after another: the connection is still there.
      try await client.webSocket("wss://localhost:\(port)/echo") { session in
        try await session.send("again")
        #expect(try await session.incoming.receive().readText() == "again")
      }
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
    }
    let peers = seen.peers.withLock { $0 }
    #expect(seen.overHTTP2 == 7, "\(peers)")
    #expect(Set(peers.map(Self.clientPort)).count == 1, "sessions on several connections: \(peers)")
  }

  @Test("http2MaxSessionsPerConnection 2: eight sessions opened at once run on four connections")
  func sessionsPerConnection() async throws {
    let seen = HTTP2Tests.Seen()
    let client = HttpClient(LinuxEngine(group: testGroup)) { config in
      config.install(WebSockets.self) { plugin in
        plugin.http2 = .required
        plugin.http2MaxSessionsPerConnection = 2
      }
      config.defaultRequest { $0.tls.trustRoots = .file(certificate("ca.pem")) }
    }
    try await withServer(HTTP2Tests.application(seen), configure: HTTP2Tests.tls) { server, port in
      let opened = HTTP2Tests.Seen()
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<8 {
          group.addTask {
            try await client.webSocket("wss://localhost:\(port)/echo") { session in
              opened.peers.withLock { $0.append("\(index)") }
              // Every session stays open until all are: none frees a connection's room for another.
              _ = await waitUntil(.seconds(10)) { opened.peers.withLock { $0.count } == 8 }
              try await session.send("hello \(index)")
              #expect(try await session.incoming.receive().readText() == "hello \(index)")
            }
          }
        }
        try await group.waitForAll()
      }
      #expect(await waitUntil(.seconds(10)) { server.server.openSessionCount == 0 })
    }
    let peers = seen.peers.withLock { $0 }
    #expect(seen.overHTTP2 == 8, "\(peers)")
    let connections = Dictionary(grouping: peers, by: Self.clientPort)
    #expect(connections.count == 4, "\(peers)")
    #expect(connections.values.allSatisfy { $0.count == 2 }, "\(peers)")
  }

  @Test("whenOffered falls back to HTTP/1.1 where the server does not speak HTTP/2; required says why it fails")
  func fallback() async throws {
    let seen = HTTP2Tests.Seen()
    try await withServer(HTTP2Tests.application(seen), configure: Self.withoutHTTP2) { _, port in
      try await Self.client(.whenOffered).webSocket("wss://localhost:\(port)/echo") { session in
        #expect(session.call.response.status == 101)
        try await session.send("over 1.1")
        #expect(try await session.incoming.receive().readText() == "over 1.1")
      }
      await #expect {
        try await Self.client(.required).webSocket("wss://localhost:\(port)/echo") { _ in }
      } throws: { error in
        error is HTTP2UnavailableException && "\(error)".contains("did not select HTTP/2 by ALPN")
      }
    }
    // A server that speaks HTTP/2 but offers no extended CONNECT (its setting off).
    try await withServer(HTTP2Tests.application(seen), configure: Self.withoutExtendedConnect) { _, port in
      try await Self.client(.whenOffered).webSocket("wss://localhost:\(port)/echo") { session in
        #expect(session.call.response.status == 101)
      }
      await #expect {
        try await Self.client(.required).webSocket("wss://localhost:\(port)/echo") { _ in }
      } throws: { error in
        error is HTTP2UnavailableException && "\(error)".contains("does not offer WebSockets over HTTP/2")
      }
    }
    #expect(seen.overHTTP2 == 0)
  }

  @Test("through nghttpx over HTTP/2 to Python's websockets server: text, 1 MiB, close 1000")
  func throughNghttpx() async throws {
    try #require(HTTP2Tests.nghttpx != nil, "nghttpx is missing: ./scripts/test installs Debian's nghttp2-proxy")
    try #require(PythonInteropTests.available, "Python websockets is missing: run ./scripts/test")
    let (backendPort, pid) = try await startPythonEchoServer()
    defer { terminate(pid) }
    let directory = "/tmp/wisp-nghttpx-front-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    mkdir(directory, 0o700)
    defer { _ = system("rm -rf '\(directory)'") }
    let (port, proxy) = try await LoopbackDaemons.start("nghttpx") { port in
      let config = """
        frontend=127.0.0.1,\(port)
        backend=127.0.0.1,\(backendPort);;proto=http/1.1
        private-key-file=\(certificate("server.key"))
        certificate-file=\(certificate("server.pem"))
        no-ocsp=yes
        workers=1
        errorlog-file=\(directory)/error.log

        """
      try config.write(toFile: "\(directory)/nghttpx.conf")
      return spawn([HTTP2Tests.nghttpx!, "--conf=\(directory)/nghttpx.conf"])
    }
    defer { terminate(proxy) }
    let client = Self.client(.required)
    for _ in 0..<2 {
      let reason = try await client.webSocket("wss://localhost:\(port)/") { session in
        #expect(session.call.response.status == 200, "not over HTTP/2")
        try await session.send("hello python")
        #expect(try await session.incoming.receive().readText() == "hello python")
        let payload = pattern(1 << 20)
        try await session.send(payload)
        #expect(try await session.incoming.receive().data == payload)
        return try await session.close(CloseReason(.normal, "done"))
      }
      #expect(reason == CloseReason(.normal, "done"))
    }
  }
}
