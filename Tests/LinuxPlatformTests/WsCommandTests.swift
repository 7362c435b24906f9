import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// The `ws` executable built beside the tests (`swift build --build-tests` builds every product).
let wsBinary = repositoryRoot + ".build/debug/ws"

/// Runs `ws` with `arguments` (shell-quoted here) and returns its standard output and error, and its status.
func runWS(_ arguments: String, input: String? = nil) async -> (output: String, status: Int32) {
  let feed = input.map { "printf '%s' '\($0)' | " } ?? ""
  let result = await shell("\(feed)timeout 60 '\(wsBinary)' \(arguments) 2>&1")
  // pclose returns a wait status: the exit code is in the second byte.
  return (result.output, (result.status >> 8) & 0xFF)
}

@Suite("The ws command")
struct WsCommandTests {
  static var available: Bool { access(wsBinary, X_OK) == 0 }

  @Test("ws demo shows text, binary, ping/pong, a compressed message and clean closes, and exits 0")
  func demo() async throws {
    try #require(Self.available, "build the ws product first (swift build --build-tests)")
    let (output, status) = await runWS("demo")
    #expect(status == 0, "\(output)")
    for expected in [
      "client ← text \"YOU SAID: hello, server\"", "client ← binary 00 01 02", "← pong after",
      "compressed (RSV1 set)", "1000 NORMAL: Client said BYE", "closed with 1000 NORMAL: done",
    ] {
      #expect(output.contains(expected), "missing \(expected) in \(output)")
    }
  }

  @Test("ws serve --echo answers Python's websockets client, with and without compression")
  func serveEcho() async throws {
    try #require(Self.available && PythonInteropTests.available, "ws and Python websockets are needed")
    let (port, pid) = try await startServerProcess([
      wsBinary, "serve", "--echo", "--port", "0", "--compress", "--port-file", portFilePlaceholder,
    ])
    defer { terminate(pid) }
    let result = await shell("'\(venvPython)' '\(fixtures)echo_client.py' ws://127.0.0.1:\(port)/any/path 2>&1")
    #expect(result.output.hasPrefix("ok close 1000"), "python said: \(result.output)")
    let compressed = await shell("'\(venvPython)' '\(fixtures)deflate_client.py' ws://127.0.0.1:\(port)/ 2>&1")
    #expect(compressed.output.hasPrefix("ok permessage-deflate"), "python said: \(compressed.output)")
    // ws connect piping lines through ws serve: both ends are the command.
    let piped = await runWS("connect ws://127.0.0.1:\(port)/lines --compress", input: "one\ntwo\n")
    #expect(piped.status == 0, "\(piped.output)")
    #expect(piped.output.contains("< text (3 bytes): one") && piped.output.contains("< text (3 bytes): two"))
  }

  @Test("ws connect exits 2 when refused, 4 with the status when the upgrade is refused, 5 on a remote close")
  func connectStatuses() async throws {
    try #require(Self.available, "build the ws product first")
    let refused = await runWS("connect ws://127.0.0.1:9/")
    #expect(refused.status == 2, "\(refused.output)")
    #expect(refused.output.contains("connection refused"))
    var application = seedEchoApplication()
    application.routing { routing in
      routing.webSocket("/going") { session in await session.close(CloseReason(.goingAway, "maintenance")) }
    }
    try await withServer(application) { _, port in
      let notFound = await runWS("connect ws://127.0.0.1:\(port)/nowhere")
      #expect(notFound.status == 4, "\(notFound.output)")
      #expect(notFound.output.contains("HTTP 404"))
      let remote = await runWS("connect ws://127.0.0.1:\(port)/going")
      #expect(remote.status == 5, "\(remote.output)")
      #expect(remote.output.contains("1001"))
      let echoed = await runWS("connect ws://127.0.0.1:\(port)/", input: "hello\n")
      #expect(echoed.status == 0, "\(echoed.output)")
      #expect(echoed.output.contains("< text (15 bytes): YOU SAID: hello"))
    }
  }

  @Test("ws connect exits 3 for an untrusted certificate, and works with --cacert")
  func connectTLS() async throws {
    try #require(Self.available, "build the ws product first")
    try await withServer(seedEchoApplication()) { configuration in
      configuration.tls = TLSServerConfiguration(
        certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"))
    } _: { _, port in
      let untrusted = await runWS("connect wss://localhost:\(port)/")
      #expect(untrusted.status == 3, "\(untrusted.output)")
      let trusted = await runWS("connect wss://localhost:\(port)/ --cacert '\(certificate("ca.pem"))'", input: "tls\n")
      #expect(trusted.status == 0, "\(trusted.output)")
      #expect(trusted.output.contains("YOU SAID: tls"))
    }
  }

  @Test("ws autobahn-client runs every case of a fuzzing server, refuses invalid UTF-8 with 1007, updates reports")
  func autobahnClient() async throws {
    try #require(Self.available && PythonInteropTests.available, "ws and Python websockets are needed")
    var template = Array("/tmp/wisp-fuzz-XXXXXX".utf8CString)
    let directory = try #require(mkdtemp(&template))
    let results = String(cString: directory) + "/results"
    let (port, pid) = try await startServerProcess([
      venvPython, fixtures + "fake_fuzzingserver.py", portFilePlaceholder, results,
    ])
    defer { terminate(pid) }
    let run = await runWS("autobahn-client --url ws://127.0.0.1:\(port) --agent wisp-test")
    #expect(run.status == 0, "\(run.output)")
    let recorded = await shell("cat '\(results)'").output.split(separator: "\n").map(String.init)
    #expect(recorded == ["1:wisp-test:OK", "2:wisp-test:OK", "3:wisp-test:OK", "4:wisp-test:OK", "report:wisp-test"])
  }
}
