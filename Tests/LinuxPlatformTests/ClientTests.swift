import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// A Python websockets echo server on an ephemeral port (it reports the port through a file) for the duration of
/// `body`.
func withPythonEchoServer<Result>(_ body: (Int) async throws -> Result) async throws -> Result {
  try #require(PythonInteropTests.available, "Python websockets is missing: run ./scripts/test")
  let (port, pid) = try await startPythonEchoServer()
  defer { terminate(pid) }
  return try await body(port)
}

/// Starts `echo_server.py` and waits (at most 10 s) for the port it chose.
func startPythonEchoServer() async throws -> (port: Int, pid: pid_t) {
  try await startServerProcess([venvPython, fixtures + "echo_server.py", portFilePlaceholder])
}

/// The argument that ``startServerProcess(_:)`` replaces with the path of the port file.
let portFilePlaceholder = "{port-file}"

/// Starts a server process that writes the port it chose into a file (named where `command` has
/// ``portFilePlaceholder``) and waits (at most 10 s) for it.
func startServerProcess(_ command: [String]) async throws -> (port: Int, pid: pid_t) {
  var template = Array("/tmp/wisp-peer-XXXXXX".utf8CString)
  guard let directory = mkdtemp(&template) else { throw TransportError.closed }
  let portFile = String(cString: directory) + "/port"
  let pid = spawn(command.map { $0 == portFilePlaceholder ? portFile : $0 })
  for _ in 0..<400 {
    if let file = fopen(portFile, "r") {
      var buffer = [CChar](repeating: 0, count: 16)
      fgets(&buffer, 16, file)
      fclose(file)
      if let port = Int(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) {
        return (port, pid)
      }
    }
    try await Task.sleep(for: .milliseconds(25))
  }
  terminate(pid)
  throw TransportError.timedOut(operation: "starting \(command.dropFirst().first ?? "the server")", limit: .seconds(10))
}

/// A server that answers every connection with `response` verbatim (for broken and refusing servers).
func withScriptedServer<Result>(
  response: @escaping @Sendable (HTTPRequestHead) -> String, _ body: (Int) async throws -> Result
) async throws -> Result {
  let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
  let task = Task {
    while let socket = try? await listener.accept() {
      Task(executorPreference: socket.loop) {
        var parser = HTTPHeadParser()
        var request: HTTPRequestHead?
        while request == nil {
          guard let chunk = try? await socket.read({ Array($0) }), !chunk.isEmpty else { break }
          request = chunk.withUnsafeBytes { raw in
            var offset = 0
            return try? parser.parseRequest(raw, offset: &offset)
          }
        }
        if let request { try? await socket.write(Array(response(request).utf8)) }
        try? await Task.sleep(for: .milliseconds(200))
        await socket.close()
      }
    }
  }
  defer { task.cancel() }
  let result = try await body(listener.localAddress.port ?? 0)
  await listener.close()
  return result
}

let engine = LinuxEngine(group: testGroup)
let client = HttpClient(engine) { $0.install(WebSockets.self) }

@Suite("Client against Python websockets and broken servers", .serialized)
struct ClientTests {
  @Test("webSocket: text, 4 MiB binary, a fragmented send, then close 1000; the call holds the handshake")
  func echo() async throws {
    try await withPythonEchoServer { port in
      let reason = try await client.webSocket("ws://127.0.0.1:\(port)/echo?x=1") { session in
        #expect(session.call.response.status == 101)
        #expect(session.call.request.target == "/echo?x=1")
        try await session.send("Hello")
        #expect(try await session.incoming.receive() == .text("Hello"))
        try await session.send(pattern(4 << 20))
        #expect(try await session.incoming.receive() == .binary(pattern(4 << 20)))
        try await session.send(.text("Part 1 ", fin: false))
        try await session.send(.text("Part 2", fin: true))
        #expect(try await session.incoming.receive().readText() == "Part 1 Part 2")
        return session
      }.closeReason
      #expect(reason.code == .normal)
    }
  }

  @Test("webSocketSession with components: the caller closes it")
  func manualSession() async throws {
    try await withPythonEchoServer { port in
      let session = try await client.webSocketSession(host: "127.0.0.1", port: port, path: "/")
      try await session.send([1, 2, 3])
      #expect(try await session.incoming.receive() == .binary([1, 2, 3]))
      #expect(try await session.close(CloseReason(code: 4001, message: "custom")).code == 4001)
    }
  }

  @Test("raw session: a manual ping brings a pong frame to incoming")
  func rawSession() async throws {
    try await withPythonEchoServer { port in
      try await client.wsRaw("ws://127.0.0.1:\(port)/") { session in
        try await session.send(try Frame.ping(Array("manual-ping".utf8)))
        let frame = try await session.incoming.receive()
        #expect(frame.frameType == .pong && frame.data == Array("manual-ping".utf8))
        try await session.send(.text("raw text"))
        #expect(try await session.incoming.receive() == .text("raw text"))
      }
    }
  }

  @Test("without the plugin, a builder fails before any traffic")
  func pluginMissing() async throws {
    let bare = HttpClient(engine)
    #expect(bare.isSupported(.webSocket) && bare.isSupported(.rawWebSocket) && bare.isSupported(.webSocketExtensions))
    // Port 9 on 127.0.0.1 is not listening; the error must be about the plugin, not the connection.
    do {
      _ = try await bare.webSocketSession("ws://127.0.0.1:9/")
      Issue.record("must fail")
    } catch let error as WebSocketException {
      #expect(error.message.contains("WebSockets plugin is not installed"))
    }
  }

  @Test("handshake refusals: 403 and 404 give the status, a wrong accept key and a missing Upgrade are refused")
  func handshakeFailures() async throws {
    for status in [403, 404] {
      let refusal: @Sendable (HTTPRequestHead) -> String = { _ in
        "HTTP/1.1 \(status) Nope\r\nContent-Length: 0\r\n\r\n"
      }
      try await withScriptedServer(response: refusal) { port in
        do {
          _ = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
          Issue.record("a \(status) must fail")
        } catch let error as WebSocketException {
          #expect(error.message == "Handshake exception, expected status code 101 but was \(status)")
        }
      }
    }
    let wrongAccept: @Sendable (HTTPRequestHead) -> String = { _ in
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    }
    try await withScriptedServer(response: wrongAccept) { port in
      do {
        _ = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
        Issue.record("a wrong accept key must fail")
      } catch let error as WebSocketException {
        guard case .invalidAccept? = error.cause as? HandshakeError else {
          Issue.record("unexpected \(error)")
          return
        }
      }
    }
    let noUpgrade: @Sendable (HTTPRequestHead) -> String = { request in
      let accept = WebSocketAccept.value(forKey: request.headers["Sec-WebSocket-Key"] ?? "")
      return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n"
    }
    try await withScriptedServer(response: noUpgrade) { port in
      await #expect(throws: WebSocketException.self) {
        _ = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
      }
      return ()
    }
  }

  @Test("a server that vanishes gives 1006; a refused connection is a typed cause")
  func abnormal() async throws {
    let vanishing: @Sendable (HTTPRequestHead) -> String = { request in
      let accept = WebSocketAccept.value(forKey: request.headers["Sec-WebSocket-Key"] ?? "")
      return
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n"
    }
    try await withScriptedServer(response: vanishing) { port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
      var iterator = session.incoming.makeAsyncIterator()
      #expect(try await iterator.next() == nil)
      #expect(await session.closeReason.code == .abnormalClosure)
    }
    let probe = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0])
    let closedPort = try #require(probe.localAddress.port)
    await probe.close()
    do {
      _ = try await client.webSocketSession("ws://127.0.0.1:\(closedPort)/")
      Issue.record("must fail")
    } catch let error as WebSocketException {
      #expect(error.cause as? TransportError == .connectionRefused(.host("127.0.0.1", port: closedPort)))
    }
  }

  @Test("sendSerialized / receiveDeserialized with the JSON converter, and the converter errors")
  func serialization() async throws {
    struct Customer: Codable, Equatable {
      var id: Int
      var name: String
    }
    let jsonClient = HttpClient(engine) {
      $0.install(WebSockets.self) { $0.contentConverter = JSONWebSocketConverter() }
    }
    try await withPythonEchoServer { port in
      try await jsonClient.webSocket("ws://127.0.0.1:\(port)/") { session in
        try await session.sendSerialized(Customer(id: 1, name: "Jet Brains"))
        #expect(try await session.receiveDeserialized(Customer.self) == Customer(id: 1, name: "Jet Brains"))
        try await session.send("not json")
        do {
          _ = try await session.receiveDeserialized(Customer.self)
          Issue.record("must fail")
        } catch WebSocketConverterError.deserializeFailed(let frame, _) {
          #expect(frame == .text("not json"))
        }
      }
      try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
        await #expect(throws: WebSocketConverterError.self) {
          try await session.sendSerialized(Customer(id: 2, name: "x"))
        }
      }
    }
  }

  @Test("wss with a test CA against a TLS server on this stack")
  func secure() async throws {
    let context = try TLSContext(
      .server(
        TLSServerConfiguration(
          certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"))))
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let port = try #require(listener.localAddress.port)
    let server = Task {
      guard let socket = try? await listener.accept() else { return }
      await withTaskExecutorPreference(socket.loop) {
        guard let tls = try? await TLSTransport.accept(over: socket, context: context) else { return }
        guard let connection = try? await upgradeOnLoop(tls) else { return }
        while let frame = try? await connection.receive() { try? await connection.send(frame) }
      }
    }
    let trustTestCA: (inout HttpRequestBuilder) throws -> Void = { $0.tls.trustRoots = .file(certificate("ca.pem")) }
    let echoed = try await client.wss("wss://localhost:\(port)/secure", request: trustTestCA) { session in
      try await session.send("over TLS")
      return try await session.incoming.receive()
    }
    #expect(echoed == .text("over TLS"))
    await listener.close()
    server.cancel()
  }
}
