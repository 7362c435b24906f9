import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// The repository's root, from this file's path.
let repositoryRoot = String(#filePath.dropLast("Tests/LinuxPlatformTests/PythonInteropTests.swift".count))
let fixtures = repositoryRoot + "Tests/LinuxPlatformTests/Fixtures/"
/// Python with `websockets`, installed into `.venv` by `./scripts/test`.
let venvPython = repositoryRoot + ".venv/bin/python"

/// The client half of the opening handshake over a socket (the client API of issue 4 will own this).
func clientUpgrade(_ socket: SocketTransport, host: String, target: String = "/") async throws -> WebSocketConnection {
  let handshake = ClientHandshake(host: host, target: target)
  return try await withTaskExecutorPreference(socket.loop) {
    try await socket.write(handshake.request.serialized())
    var parser = HTTPHeadParser()
    var leftover: [UInt8] = []
    var response: HTTPResponseHead?
    while response == nil {
      let done = try await socket.read { bytes -> Bool in
        if bytes.isEmpty { return true }
        var offset = 0
        response = try parser.parseResponse(bytes, offset: &offset)
        if response != nil { leftover = Array(bytes[offset...]) }
        return false
      }
      if done { throw TransportError.connectionReset }
    }
    _ = try handshake.validate(response!)
    return WebSocketConnection(transport: socket, configuration: .init(role: .client), leftover: leftover)
  }
}

/// The server half, through the server's one handshake (`ApplicationServer.handshake`, every path a WebSocket route):
/// the connection it upgraded, without running a handler, so that the test drives it.
func upgradeOnLoop(_ socket: any Transport) async throws -> WebSocketConnection {
  var application = Application()
  application.install(WebSockets.self)
  application.routing { routing in routing.webSocket("/{path...}") { _ in } }
  guard let accepted = await ApplicationServer(application: application).handshake(socket) else {
    throw TransportError.connectionReset
  }
  return accepted.connection
}

/// `serverUpgrade` for a socket, hopping onto its loop.
func serverUpgrade(_ socket: SocketTransport) async throws -> WebSocketConnection {
  try await withTaskExecutorPreference(socket.loop) { try await upgradeOnLoop(socket) }
}

@Suite("Interop with Python's websockets", .serialized)
struct PythonInteropTests {
  static var available: Bool { access(venvPython, X_OK) == 0 }

  @Test("our client against a websockets echo server: text, 1 MiB binary, fragments, close 1000")
  func clientAgainstPython() async throws {
    try #require(Self.available, "Python websockets is missing: run ./scripts/test, which installs it into .venv")
    let (port, pid) = try await startPythonEchoServer()
    defer { terminate(pid) }
    let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.next())
    let connection = try await clientUpgrade(socket, host: "127.0.0.1:\(port)")
    try await connection.send(.text("hello from swift"))
    #expect(try await connection.receive() == .text("hello from swift"))
    try await connection.send(.binary(pattern(1 << 20)))
    #expect(try await connection.receive() == .binary(pattern(1 << 20)))
    try await connection.send(.text("Part 1 ", fin: false))
    try await connection.send(.text("Part 2 ", fin: false))
    try await connection.send(.text("Part 3", fin: true))
    #expect(try await connection.receive() == .text("Part 1 Part 2 Part 3"))
    let reason = try await connection.close(CloseReason(.normal, "bye"))
    #expect(reason.code == .normal)
  }

  @Test("a websockets client against our echo server: every message echoed, clean close")
  func pythonAgainstServer() async throws {
    try #require(Self.available, "Python websockets is missing: run ./scripts/test, which installs it into .venv")
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let port = try #require(listener.localAddress.port)
    let server = Task {
      guard let socket = try? await listener.accept() else { return CloseReason(.abnormalClosure) }
      guard let connection = try? await serverUpgrade(socket) else { return CloseReason(.protocolError) }
      while let frame = try? await connection.receive() { try? await connection.send(frame) }
      return await connection.closeReason
    }
    let result = await shell("'\(venvPython)' '\(fixtures)echo_client.py' ws://127.0.0.1:\(port)/ 2>&1")
    #expect(result.output.hasPrefix("ok close 1000"), "python said: \(result.output)")
    #expect(await server.value == CloseReason(.normal, "done"))
    await listener.close()
  }
}
