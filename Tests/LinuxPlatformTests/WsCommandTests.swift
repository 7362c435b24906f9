import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// The `ws` executable built beside the tests (`swift build --build-tests` builds every product).
let wsBinary = repositoryRoot + ".build/debug/ws"

/// Runs `ws` with `arguments` (shell-quoted here) and returns its standard output alone (standard error discarded),
/// and its status.
func runWSStandardOutput(_ arguments: String, input: String) async -> (output: String, status: Int32) {
  let result = await shell("printf '\(input)' | timeout 60 '\(wsBinary)' \(arguments) 2>/dev/null")
  return (result.output, (result.status >> 8) & 0xFF)
}

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
    // ws connect piping lines through ws serve: both ends are the command; standard output is exactly the lines.
    let piped = await runWSStandardOutput("connect ws://127.0.0.1:\(port)/lines --compress", input: "one\\ntwo\\n")
    #expect(piped.status == 0)
    #expect(piped.output == "one\ntwo\n", "\(piped.output)")
  }

  @Test("ws connect exits 2 when refused, 4 with the status when the upgrade is refused, 5 on a remote close")
  func connectStatuses() async throws {
    try #require(Self.available, "build the ws product first")
    let refused = await runWS("connect ws://127.0.0.1:9/")
    #expect(refused.status == 2, "\(refused.output)")
    #expect(refused.output.contains("connection refused"))
    var application = seedEchoApplication()
    application.routing { routing in
      routing.webSocket("/going") { session in try await session.close(CloseReason(.goingAway, "maintenance")) }
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
      #expect(echoed.output.contains("YOU SAID: hello"))
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

@Suite("The ws server out of descriptors")
struct DescriptorExhaustionTests {
  /// CPU time (user + system) of `pid`, in clock ticks, from /proc.
  static func cpuTicks(_ pid: pid_t) -> Int {
    guard let file = fopen("/proc/\(pid)/stat", "r") else { return 0 }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 1024)
    guard fgets(&buffer, 1024, file) != nil else { return 0 }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // Fields after the ")" that ends the command name: state is field 3; utime and stime are fields 14 and 15.
    guard let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13 else { return 0 }
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
  }

  @Test("with its descriptors exhausted (EMFILE) the accept loop backs off instead of spinning, and recovers")
  func emfileBackOff() async throws {
    try #require(WsCommandTests.available, "build the ws product first")
    let script = "ulimit -n 32 && exec \"$0\" serve --echo --port 0 --port-file \"$1\" -q"
    let (port, pid) = try await startServerProcess(["/bin/sh", "-c", script, wsBinary, portFilePlaceholder])
    defer { terminate(pid) }
    // More connections than the server has descriptors: the kernel completes them all (backlog), accept fails.
    var sockets: [SocketTransport] = []
    for _ in 0..<48 {
      sockets.append(try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[0]))
    }
    try await Task.sleep(for: .milliseconds(300))
    let before = Self.cpuTicks(pid)
    try await Task.sleep(for: .seconds(1))
    let used = Self.cpuTicks(pid) - before
    #expect(used < 30, "the server used \(used) ticks (of 100) in a second while out of descriptors")
    for socket in sockets { await socket.close() }
    // Recovered: a new session echoes.
    let echoed = await runWS("connect ws://127.0.0.1:\(port)/", input: "still here\n")
    #expect(echoed.status == 0, "\(echoed.output)")
    #expect(echoed.output.contains("still here"))
  }
}

/// Issue 22: `ws connect` in pipes (websocat's and wscat's conventions) and `ws serve --exec` (websocketd's).
@Suite("ws connect in pipes, ws serve --exec")
struct WsPipeTests {
  /// `ws serve --echo` on a port of its own for `body`.
  static func withEchoServer(_ extra: [String] = [], _ body: (Int) async throws -> Void) async throws {
    let (port, pid) = try await startServerProcess(
      [wsBinary, "serve", "--echo", "--port", "0", "--port-file", portFilePlaceholder, "-q"] + extra)
    defer { terminate(pid) }
    try await body(port)
  }

  @Test("printf 'a\\nb\\n' | ws connect URL gives exactly the echoed lines; annotations only with --verbose, on stderr")
  func pipe() async throws {
    try #require(WsCommandTests.available)
    try await Self.withEchoServer { port in
      let plain = await runWSStandardOutput("connect ws://127.0.0.1:\(port)/", input: "a\\nb\\nthird line\\n")
      #expect(plain.status == 0)
      #expect(plain.output == "a\nb\nthird line\n", "\(plain.output)")
      // In a pipeline: sort sees the messages and nothing else.
      let sorted = await shell("printf 'b\\na\\n' | '\(wsBinary)' connect ws://127.0.0.1:\(port)/ 2>/dev/null | sort")
      #expect(sorted.output == "a\nb\n", "\(sorted.output)")
      let verbose = await shell(
        "printf 'hello\\n' | '\(wsBinary)' connect -v ws://127.0.0.1:\(port)/ 2>&1 >/dev/null")
      #expect(verbose.output.contains("< text (5 bytes)"), "\(verbose.output)")
    }
  }

  @Test("-1 sends the first line, prints the first answer and closes; --max-messages stops after N")
  func oneMessage() async throws {
    try #require(WsCommandTests.available)
    try await Self.withEchoServer { port in
      let one = await runWSStandardOutput("connect -1 ws://127.0.0.1:\(port)/", input: "first\\nsecond\\n")
      #expect(one.status == 0)
      #expect(one.output == "first\n", "\(one.output)")
      let two = await runWSStandardOutput(
        "connect --max-messages 2 ws://127.0.0.1:\(port)/", input: "a\\nb\\nc\\nd\\n")
      #expect(two.status == 0)
      #expect(two.output == "a\nb\n", "\(two.output)")
    }
  }

  @Test("binary messages raw by default, one base64 or hex line each with --base64 or --hex")
  func binary() async throws {
    try #require(WsCommandTests.available)
    try await Self.withEchoServer { port in
      let base64 = await runWSStandardOutput(
        "connect --binary --base64 ws://127.0.0.1:\(port)/", input: "aGVsbG8=\\nAAEC/w==\\n")
      #expect(base64.output == "aGVsbG8=\nAAEC/w==\n", "\(base64.output)")
      let hex = await runWSStandardOutput("connect --binary --hex ws://127.0.0.1:\(port)/", input: "00ff10\\n")
      #expect(hex.output == "00ff10\n", "\(hex.output)")
      let raw = await runWSStandardOutput("connect --binary ws://127.0.0.1:\(port)/", input: "xyz\\n")
      #expect(raw.output == "xyz", "binary messages are written as they are, without a newline: \(raw.output)")
    }
  }

  @Test("-H 'Name: value' and --origin reach the server; -h is help")
  func headers() async throws {
    try #require(WsCommandTests.available)
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/headers") { session in
        let headers = session.call.request.headers
        try await session.send(.text("\(headers["X-Token"] ?? "-") \(headers["Origin"] ?? "-")"))
        try await session.close()
      }
    }
    try await withServer(application) { _, port in
      let result = await runWSStandardOutput(
        "connect -H 'X-Token: abc' --origin https://app.example ws://127.0.0.1:\(port)/headers", input: "")
      #expect(result.output == "abc https://app.example\n", "\(result.output)")
    }
    let help = await runWS("connect -h")
    #expect(help.status == 0)
    #expect(help.output.contains("--header"), "\(help.output)")
  }

  @Test("ws serve --exec 'tr a-z A-Z' answers in capitals; the command's end closes with 1000")
  func exec() async throws {
    try #require(WsCommandTests.available)
    let (port, pid) = try await startServerProcess([
      wsBinary, "serve", "--exec", "tr a-z A-Z", "--port", "0", "--port-file", portFilePlaceholder, "-q",
    ])
    defer { terminate(pid) }
    // tr answers each line as it comes (ws serve runs it under stdbuf -oL): the input stays open (a process
    // substitution the shell does not wait for) and the client closes after the two answers, however long a loaded
    // machine takes to start the command.
    let result = await shell(
      "bash -c \"timeout 60 '\(wsBinary)' connect --max-messages 2 ws://127.0.0.1:\(port)/ 2>/dev/null "
        + "< <(printf 'hello\\\\nworld\\\\n'; sleep 30)\"")
    #expect(result.status == 0)
    #expect(result.output == "HELLO\nWORLD\n", "\(result.output)")
    // A line-by-line command answers each message as it comes; its exit closes the session with 1000.
    let (linePort, linePid) = try await startServerProcess([
      wsBinary, "serve", "--exec", "read line; echo \"got $line from $PATH_INFO\"", "--port", "0", "--port-file",
      portFilePlaceholder, "-q",
    ])
    defer { terminate(linePid) }
    let single = await runWSStandardOutput("connect -1 ws://127.0.0.1:\(linePort)/some/path", input: "ping\\n")
    #expect(single.status == 0)
    #expect(single.output == "got ping from /some/path\n", "\(single.output)")
  }

  @Test("on a terminal, /ping pings and /close closes (they are not sent as messages)")
  func slashCommands() async throws {
    try #require(WsCommandTests.available && access("/usr/bin/script", X_OK) == 0, "util-linux's script is needed")
    try await Self.withEchoServer { port in
      // script gives ws connect a pseudo-terminal as standard input (the terminal echoes what is typed, once).
      let result = await shell(
        "(printf '/ping hi\\n'; sleep 0.5; printf 'typed\\n'; sleep 0.3; printf '/close\\n'; sleep 0.5) | "
          + "timeout 20 script -qec \"'\(wsBinary)' connect ws://127.0.0.1:\(port)/\" /dev/null; echo \"exit $?\"")
      #expect(result.output.contains("pong after"), "\(result.output)")
      let lines = result.output.split(whereSeparator: \.isNewline).map { $0.trimmingSuffix(\.isWhitespace) }
      #expect(lines.count { $0 == "/ping hi" } == 1, "/ping was sent: \(result.output)")
      #expect(lines.count { $0 == "typed" } == 2, "typed and its echo: \(result.output)")
      #expect(result.output.contains("exit 0"), "\(result.output)")
    }
  }
}

extension Substring {
  /// Without the trailing characters that match `predicate` (a terminal ends lines with "\r\n").
  fileprivate func trimmingSuffix(_ predicate: (Character) -> Bool) -> Substring {
    var end = endIndex
    while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
    return self[startIndex..<end]
  }
}
