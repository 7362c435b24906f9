import Glibc
import Logging
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 18 in a real browser: headless Chromium (Debian's `chromium`, installed by ./scripts/test) loads a page from
/// one server and opens sockets to a server whose Origin policy allows that page and to one that refuses it. The
/// page reports what happened to its own server with `fetch`, so nothing depends on reading the browser's output.
@Suite("Origin policy in headless Chromium")
struct BrowserOriginTests {
  static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { access($0, X_OK) == 0 }

  static func start(_ build: (inout Application) -> Void) async throws -> EmbeddedServer {
    var application = Application()
    application.install(WebSockets.self) { _ in }
    build(&application)
    let server = EmbeddedServer(
      application, configuration: .init(endpoint: .host("127.0.0.1", port: 0), group: testGroup))
    try await server.start()
    return server
  }

  @Test(
    "a page's socket to a server that allows its origin echoes; to one that refuses it, onerror/onclose fire and the server logs 403",
    .enabled(if: chromium != nil, "Chromium is not installed (./scripts/test installs Debian's chromium)"))
  func browserOrigins() async throws {
    let report = Mutex<String?>(nil)
    let log = LogRecords()
    // The page's own server: serves the page, receives the report.
    let pageServer = try await Self.start { application in
      application.routing { routing in
        routing.get("/report") { call in
          report.withLock { $0 = call.query("result") }
          return .text("thanks")
        }
        routing.get("/page") { call in .html(call.query("html") ?? "") }
      }
    }
    let pagePort = try #require(pageServer.port)
    let pageOrigin = "http://127.0.0.1:\(pagePort)"
    let allowing = try await Self.start { application in
      application.install(WebSockets.self) { $0.originPolicy = .allowList([pageOrigin]) }
      application.routing { routing in
        routing.webSocket("/") { session in
          for try await frame in session.incoming { try await session.send(frame) }
        }
      }
    }
    let refusing = try await Self.start { application in
      application.install(WebSockets.self) { $0.originPolicy = .allowList(["https://somewhere-else.example"]) }
      application.logger = log.logger
      application.routing { routing in routing.webSocket("/") { _ in } }
    }
    let script = """
      const results = {};
      function done(key, value) {
        results[key] = value;
        if (results.allowed && results.refused) {
          fetch('/report?result=' + encodeURIComponent('allowed=' + results.allowed + ';refused=' + results.refused));
        }
      }
      const good = new WebSocket('ws://127.0.0.1:\(allowing.port ?? 0)/');
      good.onopen = () => good.send('hello from the page');
      good.onmessage = (event) => { done('allowed', 'echo:' + event.data); good.close(); };
      good.onerror = () => done('allowed', 'error');
      const bad = new WebSocket('ws://127.0.0.1:\(refusing.port ?? 0)/');
      bad.onopen = () => done('refused', 'opened');
      bad.onerror = () => { results.sawError = true; };
      bad.onclose = (event) => done('refused', (results.sawError ? 'error+' : '') + 'close:' + event.code);
      """
    let html = "<!doctype html><title>wisp</title><script>\(script)</script>"
    let pageURL = "\(pageOrigin)/page?html=" + Self.percentEncode(html)
    let profile = "/tmp/wisp-chromium-\(getpid())-\(pagePort)"
    let browser = spawn([
      Self.chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
      "--user-data-dir=\(profile)", pageURL,
    ])
    defer {
      terminate(browser)
      _ = system("rm -rf '\(profile)'")
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while report.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(100))
    }
    let result = report.withLock { $0 }
    #expect(result == "allowed=echo:hello from the page;refused=error+close:1006", "\(result ?? "no report")")
    // A refusal by policy is a notice, with its status.
    #expect(
      log.all.contains {
        $0.level == .notice && $0.metadata[WispLogMetadata.status] == "403"
          && $0.message.contains("origin \(pageOrigin) is not allowed")
      }, "\(log.messages)")
    for server in [pageServer, allowing, refusing] { await server.stop() }
  }

  static func percentEncode(_ text: String) -> String {
    var encoded = ""
    for byte in text.utf8 {
      if (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) {
        encoded.append(Character(UnicodeScalar(byte)))
      } else {
        encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
      }
    }
    return encoded
  }
}

extension String {
  fileprivate func leftPadded(to length: Int) -> String {
    count >= length ? self : String(repeating: "0", count: length - count) + self
  }
}
