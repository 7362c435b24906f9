import Glibc
import Logging
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Starts `application` on an ephemeral loopback port for the duration of `body`, then stops it.
func withServer<Result>(
  _ application: Application, configure: (inout EmbeddedServer.Configuration) -> Void = { _ in },
  _ body: (EmbeddedServer, Int) async throws -> Result
) async throws -> Result {
  var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
  configure(&configuration)
  let server = EmbeddedServer(application, configuration: configuration)
  try await server.start()
  do {
    let result = try await body(server, try #require(server.port))
    await server.stop()
    return result
  } catch {
    await server.stop()
    throw error
  }
}

/// The seed document's echo application: "YOU SAID: ..." and a close on "bye".
func seedEchoApplication() -> Application {
  var application = Application()
  application.install(WebSockets.self)
  application.routing { routing in
    routing.webSocket("/") { session in
      for try await frame in session.incoming {
        guard case .text = frame.frameType else { continue }
        let text = try frame.readText()
        try await session.outgoing.send(.text("YOU SAID: \(text)"))
        if text.lowercased() == "bye" {
          try await session.close(CloseReason(.normal, "Client said BYE"))
        }
      }
    }
  }
  return application
}

/// Holds values that handlers report to the test.
final class Recorder<Value: Sendable>: Sendable {
  private let values = Mutex<[Value]>([])
  func add(_ value: Value) { values.withLock { $0.append(value) } }
  var all: [Value] { values.withLock { $0 } }
}

@Suite("Server over loopback sockets")
struct ServerTests {
  @Test("the seed document's echo handler answers YOU SAID and closes on bye with 1000")
  func seedEcho() async throws {
    try await withServer(seedEchoApplication()) { _, port in
      let reason = try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
        try await session.send("hello")
        #expect(try await session.incoming.receive().readText() == "YOU SAID: hello")
        try await session.send("bye")
        #expect(try await session.incoming.receive().readText() == "YOU SAID: bye")
        return await session.closeReason
      }
      #expect(reason == CloseReason(.normal, "Client said BYE"))
    }
  }

  @Test("a handler's call names the peer as address and port, over TLS too, and still does after the session ended")
  func callNamesThePeer() async throws {
    let afterEnd = Recorder<String>()
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/") { session in
        try await session.send(session.call.remoteAddress)
        for try await _ in session.incoming {}
        // The call formats its peer from the transport when asked: the closed transport still knows it.
        afterEnd.add(session.call.remoteAddress)
      }
    }
    for useTLS in [false, true] {
      let configure: (inout EmbeddedServer.Configuration) -> Void = { if useTLS { $0.tls = localhostServerTLS() } }
      let peer = try await withServer(application, configure: configure) { _, port in
        let url = useTLS ? "wss://localhost:\(port)/" : "ws://127.0.0.1:\(port)/"
        let trustTestCA: (inout HttpRequestBuilder) throws -> Void = {
          $0.tls.trustRoots = .file(certificate("ca.pem"))
        }
        return try await client.webSocket(url, request: trustTestCA) { session in
          try await session.incoming.receive().readText()
        }
      }
      let expected = /127\.0\.0\.1:(\d+)( \(TLS\))?/
      let match = try #require(peer.wholeMatch(of: expected), "\(peer)")
      #expect((1...65535).contains(Int(match.1) ?? 0))
      #expect((match.2 != nil) == useTLS, "\(peer)")
      #expect(afterEnd.all.last == peer)
    }
  }

  @Test(
    "a handler runs on its connection's loop thread after every kind of await: a wait for a message, a sleep, a send")
  func handlerStaysOnTheLoop() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/") { session in
        var awaitsOffTheLoop = 0
        var messages = 0
        for try await frame in session.incoming {
          // The client pauses before each message, so most of these iterations waited for the socket.
          if !session.connection.transport.isExecutorThread { awaitsOffTheLoop += 1 }
          guard try frame.readText() != "report" else {
            try await session.send("\(messages) messages, \(awaitsOffTheLoop) resumed off the loop")
            continue
          }
          messages += 1
          try await Task.sleep(for: .milliseconds(1))
          if !session.connection.transport.isExecutorThread { awaitsOffTheLoop += 1 }
          try await session.send(frame)
          if !session.connection.transport.isExecutorThread { awaitsOffTheLoop += 1 }
        }
      }
    }
    try await withServer(application) { _, port in
      try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
        for index in 0..<20 {
          try await Task.sleep(for: .milliseconds(2))
          try await session.send("message \(index)")
          #expect(try await session.incoming.receive().readText() == "message \(index)")
        }
        try await session.send("report")
        #expect(try await session.incoming.receive().readText() == "20 messages, 0 resumed off the loop")
      }
    }
  }

  @Test(
    "a route with a protocol selects it and echoes it; a client that does not offer it finds no route (404, as Ktor)")
  func subprotocols() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/chat", protocol: "chat.v2") { session in
        try await session.send("v2 \(session.subprotocol ?? "none")")
      }
    }
    try await withServer(application) { _, port in
      let greeting = try await client.webSocket("ws://127.0.0.1:\(port)/chat") { request in
        request.subprotocols = ["chat.v1", "chat.v2"]
      } _: { session in
        #expect(session.subprotocol == "chat.v2")
        return try await session.incoming.receive().readText()
      }
      #expect(greeting == "v2 chat.v2")
      await #expect(throws: WebSocketException.self) {
        try await client.webSocket("ws://127.0.0.1:\(port)/chat") { request in
          request.subprotocols = ["chat.v1"]
        } _: { _ in
        }
      }
      let answer = try await RawHTTP.exchange(
        port,
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          + "Sec-WebSocket-Protocol: chat.v1\r\n\r\n")
      #expect(answer.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
    }
  }

  @Test("path parameters, query parameters and headers reach the handler")
  func parameters() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/rooms/{room}/{rest...}") { session in
        let call = session.call
        try await session.send(
          "\(call.parameters["room"] ?? "-")|\(call.parameters["rest"] ?? "-")|\(call.query("user") ?? "-")|"
            + (call.header("X-Trace") ?? "-"))
      }
    }
    try await withServer(application) { _, port in
      let text = try await client.webSocket("ws://127.0.0.1:\(port)/rooms/caf%C3%A9/a/b?user=ann+lee") { request in
        request.headers.add(name: "X-Trace", value: "t-1")
      } _: { session in
        try await session.incoming.receive().readText()
      }
      #expect(text == "café|a/b|ann lee|t-1")
    }
  }

  @Test("404 for unknown paths, 426 for a wrong version, 400 for a missing key, 405 for POST, 200 for get routes")
  func plainAnswers() async throws {
    var application = seedEchoApplication()
    application.routing { routing in
      routing.get("/health") { _ in .text("ok") }
    }
    try await withServer(application) { _, port in
      let upgradeHead = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      let notFound = try await RawHTTP.exchange(
        port, "GET /nowhere HTTP/1.1\r\nHost: h\r\n" + upgradeHead + key + "\r\n")
      #expect(notFound.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
      let version = try await RawHTTP.exchange(
        port,
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key
          + "Sec-WebSocket-Version: 8\r\n\r\n")
      #expect(version.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
      #expect(version.contains("Sec-WebSocket-Version: 13\r\n"))
      let noKey = try await RawHTTP.exchange(port, "GET / HTTP/1.1\r\nHost: h\r\n" + upgradeHead + "\r\n")
      #expect(noKey.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
      let post = try await RawHTTP.exchange(port, "POST / HTTP/1.1\r\nHost: h\r\n" + upgradeHead + key + "\r\n")
      #expect(post.hasPrefix("HTTP/1.1 405 "))
      let health = try await RawHTTP.exchange(port, "GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
      #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n"))
      #expect(health.contains("Content-Length: 2\r\n"))
      let huge = try await RawHTTP.exchange(
        port, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "a", count: 20_000) + "\r\n\r\n")
      #expect(huge.hasPrefix("HTTP/1.1 431 "))
    }
  }

  @Test("an upgrade request line with any version but HTTP/1.1 is refused (505, or 400 when malformed), never upgraded")
  func httpVersions() async throws {
    try await withServer(seedEchoApplication()) { _, port in
      let rest =
        "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
      for (version, status) in [
        ("HTTP/2.0", 505), ("HTTP/1.0", 505), ("HTTP/0.9", 505), ("HTTP/3", 400), ("HTTP/2", 400), ("HTTX/1.1", 400),
        ("http/1.1", 400), ("HTTP/1.1.1", 400), ("", 400),
      ] {
        let answer = try await RawHTTP.exchange(port, "GET / \(version)\r\n" + rest)
        #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "GET / \(version): \(answer.prefix(40))")
        #expect(!answer.contains("101 Switching Protocols"))
      }
      let good = try await RawHTTP.exchange(port, "GET / HTTP/1.1\r\n" + rest)
      #expect(good.hasPrefix("HTTP/1.1 101 "))
    }
  }

  @Test("a throwing handler closes with 1011 \"Internal Error\"; the error's text goes to the log only")
  func throwingHandler() async throws {
    struct Broken: Error, CustomStringConvertible { var description: String { "the handler broke" } }
    let log = LogRecords()
    var application = Application()
    application.install(WebSockets.self)
    application.logger = log.logger
    application.routing { routing in
      routing.webSocket("/broken") { _ in throw Broken() }
    }
    try await withServer(application) { _, port in
      let reason = try await client.webSocket("ws://127.0.0.1:\(port)/broken") { session in
        await session.closeReason
      }
      #expect(reason == CloseReason(.internalError, "Internal Error"))
    }
    // The error goes to the log (at error, with the connection's metadata), never to the client.
    let failure = try #require(log.all.first { $0.message.contains("handler failed: the handler broke") })
    #expect(failure.level == .error)
    #expect(failure.metadata[WispLogMetadata.path] == "/broken")
    #expect(failure.metadata[WispLogMetadata.connection] != nil && failure.metadata[WispLogMetadata.peer] != nil)
  }

  @Test("stopping the server closes open sessions with 1001")
  func gracefulShutdown() async throws {
    let application = seedEchoApplication()
    var configuration = EmbeddedServer.Configuration(endpoint: .host("127.0.0.1", port: 0), group: testGroup)
    configuration.shutdownGracePeriod = .seconds(3)
    let server = EmbeddedServer(application, configuration: configuration)
    try await server.start()
    let port = try #require(server.port)
    let sessions = try await (0..<3).asyncMap { _ in try await client.webSocketSession("ws://127.0.0.1:\(port)/") }
    for session in sessions {
      try await session.send("hi")
      _ = try await session.incoming.receive()
    }
    #expect(server.server.openSessionCount == 3)
    let started = ContinuousClock.now
    await server.stop()
    #expect(ContinuousClock.now - started < .seconds(3))
    for session in sessions {
      #expect(await session.closeReason.code == .goingAway)
    }
    #expect(server.server.openSessionCount == 0)
  }

  @Test("a client that never finishes its request is dropped after the handshake timeout")
  func slowClient() async throws {
    var application = seedEchoApplication()
    application.install(WebSockets.self) { $0.handshakeTimeout = .milliseconds(300) }
    try await withServer(application) { _, port in
      let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[1])
      let started = ContinuousClock.now
      let eof = try await withTaskExecutorPreference(socket.loop) {
        try await socket.write(Array("GET / HTTP/1.1\r\nHost: h\r\n".utf8))
        // An end of stream, or a reset when the deadline came before the server read these bytes.
        do {
          return try await socket.read { $0.isEmpty }
        } catch TransportError.connectionReset {
          return true
        }
      }
      #expect(eof)
      #expect(ContinuousClock.now - started < .seconds(5))
      await socket.close()
    }
  }

  @Test("tryReceive takes what has arrived without waiting, in order, on and off the loop; nil when nothing is queued")
  func tryReceiveTakesQueuedFrames() async throws {
    var application = Application()
    application.install(WebSockets.self)
    application.routing { routing in
      routing.webSocket("/") { session in
        // "N": answer with N numbered messages at once.
        for try await frame in session.incoming {
          for number in 0..<(Int(try frame.readText()) ?? 0) { try await session.send("\(number)") }
        }
      }
    }
    try await withServer(application) { _, port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
      // Off the loop (this task has no executor preference): each call hops to the connection.
      #expect(await session.incoming.tryReceive() == nil)
      try await session.send("5")
      #expect(await waitUntil(.seconds(10)) { await session.connection.bufferedFrameCount == 5 })
      for number in 0..<5 { #expect(try await session.incoming.tryReceive()?.readText() == "\(number)") }
      #expect(await session.incoming.tryReceive() == nil)
      // On the connection's loop: the synchronous path, without a suspension.
      let loop = try #require(session.connection.transport.taskExecutor)
      try await session.send("3")
      #expect(await waitUntil(.seconds(10)) { await session.connection.bufferedFrameCount == 3 })
      let onLoop = try await Task(executorPreference: loop) {
        var texts: [String] = []
        while let frame = await session.incoming.tryReceive() { texts.append(try frame.readText()) }
        return texts
      }.value
      #expect(onLoop == ["0", "1", "2"])
      _ = try await session.close()
      #expect(await session.incoming.tryReceive() == nil)
    }
  }

  @Test("a client that floods a handler that never reads cannot grow the server's queue past its capacity")
  func floodIsBounded() async throws {
    let connections = Recorder<WebSocketConnection>()
    var application = Application()
    application.install(WebSockets.self) {
      $0.incomingCapacity = 8
      $0.timeout = .milliseconds(500)
    }
    application.routing { routing in
      routing.webSocket("/sink") { session in
        connections.add(session.connection)
        try await Task.sleep(for: .seconds(30))
      }
    }
    try await withServer(application) { _, port in
      let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/sink")
      let payload = [UInt8](repeating: 7, count: 16 * 1024)
      // Send until the socket pushes back (the server stopped reading), bounded in time.
      let sender = Task {
        var sent = 0
        while sent < 10_000 {
          try await session.send(payload)
          sent += 1
        }
        return sent
      }
      try await Task.sleep(for: .milliseconds(800))
      let connection = try #require(connections.all.first)
      let buffered = await connection.bufferedFrameCount
      #expect(buffered <= 8 + 4, "the server buffers at most its capacity (plus one read's worth)")
      sender.cancel()
      _ = await sender.result
      await session.connection.terminate()
    }
  }

  @Test("a handler that starts reading late gets every message of a flood, in order (reading pauses, then resumes)")
  func pausedReadingResumes() async throws {
    let buffered = Recorder<Int>()
    var application = Application()
    application.install(WebSockets.self) { $0.incomingCapacity = 4 }
    application.routing { routing in
      routing.webSocket("/late") { session in
        // Let the flood fill the queue (and the socket buffers behind it) before the first read: wait (at most 10 s,
        // the suite runs in parallel) until reading has paused at capacity, and a moment longer.
        let deadline = ContinuousClock.now + .seconds(10)
        while await session.connection.bufferedFrameCount < 4, ContinuousClock.now < deadline {
          try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(100))
        buffered.add(await session.connection.bufferedFrameCount)
        var expected = 0
        for try await frame in session.incoming {
          let bytes = frame.data
          guard bytes.count == 1024, bytes.allSatisfy({ $0 == UInt8(truncatingIfNeeded: expected) }) else {
            try await session.send("out of order at \(expected)")
            return
          }
          expected += 1
          if expected == 2_000 {
            try await session.send("all \(expected)")
            return
          }
        }
      }
    }
    try await withServer(application) { _, port in
      let reply = try await client.webSocket("ws://127.0.0.1:\(port)/late") { session in
        // A reader that never resumed would leave this waiting: the watchdog turns that into a failure. Generous:
        // on a loaded 2-core machine (the whole suite in parallel, a debug build) this test took 20 s once.
        let watchdog = Task {
          try await Task.sleep(for: .seconds(90))
          await session.connection.terminate()
        }
        defer { watchdog.cancel() }
        for index in 0..<2_000 {
          try await session.send([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 1024))
        }
        return try await session.incoming.receive().readText()
      }
      #expect(reply == "all 2000")
      let seen = try #require(buffered.all.first)
      #expect(seen >= 4 && seen <= 4 + 64, "the queue held \(seen) frames before the first read (capacity 4)")
    }
  }

  @Test("1,000 sessions open at once, each echoes, and all close with 1000")
  func thousandSessions() async throws {
    // Generous handshake limits: the test suite runs in parallel on 2 cores in a debug build, and this test is
    // about holding 1,000 sessions, not about speed.
    var application = seedEchoApplication()
    application.install(WebSockets.self) { $0.handshakeTimeout = .seconds(60) }
    let log = LogRecords()
    application.logger = log.logger
    // Sessions opened and closed are logged at info; anything else (a refusal, a dropped connection) is a failure.
    defer {
      let other = log.all.filter { $0.level != .info }.map(\.message)
      #expect(other.isEmpty, "server log: \(other.prefix(5))")
    }
    let patientClient = HttpClient(engine) { $0.install(WebSockets.self) { $0.handshakeTimeout = .seconds(60) } }
    try await withServer(application) { server, port in
      // Opened 100 at a time (a connect storm is the kernel backlog's business, not this test's); then all 1,000
      // are open at once.
      var sessions: [DefaultClientWebSocketSession] = []
      for _ in 0..<10 {
        sessions += try await withThrowingTaskGroup(of: DefaultClientWebSocketSession.self) { group in
          for _ in 0..<100 {
            group.addTask { try await patientClient.webSocketSession("ws://127.0.0.1:\(port)/") }
          }
          var opened: [DefaultClientWebSocketSession] = []
          for try await session in group { opened.append(session) }
          return opened
        }
      }
      #expect(server.server.openSessionCount == 1000)
      let replies = try await withThrowingTaskGroup(of: String.self) { group in
        for (index, session) in sessions.enumerated() {
          group.addTask {
            try await session.send("n\(index)")
            let reply = try await session.incoming.receive().readText()
            #expect(try await session.close() == CloseReason(.normal))
            return reply
          }
        }
        var replies: [String] = []
        for try await reply in group { replies.append(reply) }
        return replies
      }
      #expect(Set(replies) == Set((0..<1000).map { "YOU SAID: n\($0)" }))
    }
  }

  @Test(
    "TLS with a test CA, and a Unix socket, serve the same application; the client reaches the socket by ws+unix: URL, builder and ws connect"
  )
  func tlsAndUnix() async throws {
    try await withServer(seedEchoApplication()) { configuration in
      configuration.tls = TLSServerConfiguration(
        certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"))
    } _: { _, port in
      let text = try await client.wss("wss://localhost:\(port)/") { request in
        request.tls.trustRoots = .file(certificate("ca.pem"))
      } _: { session in
        try await session.send("secure")
        return try await session.incoming.receive().readText()
      }
      #expect(text == "YOU SAID: secure")
    }
    let path = "/tmp/wisp-server-\(getpid()).sock"
    let server = EmbeddedServer(
      seedEchoApplication(), configuration: .init(endpoint: .unix(path: path), group: testGroup))
    try await server.start()
    let socket = try await SocketConnector.connect(to: .unix(path: path), on: testGroup.loops[0])
    let connection = try await clientUpgrade(socket, host: "unix")
    try await connection.send(.text("over unix"))
    #expect(try await connection.receive()?.readText() == "YOU SAID: over unix")
    try await connection.close()
    // The client over the same socket: a ws+unix: URL, and the builder's unixSocketPath.
    let byURL = try await client.webSocket("ws+unix://\(path):/?from=url") { session in
      try await session.send("by url")
      return try await session.incoming.receive().readText()
    }
    #expect(byURL == "YOU SAID: by url")
    let byBuilder = try await client.webSocket("ws://localhost/") { request in
      request.unixSocketPath = path
    } _: { session in
      try await session.send("by builder")
      return try await session.incoming.receive().readText()
    }
    #expect(byBuilder == "YOU SAID: by builder")
    let wsCommand = await runWS("connect 'ws+unix://\(path):/'", input: "from ws\n")
    #expect(wsCommand.output.contains("YOU SAID: from ws"), "\(wsCommand.output)")
    await server.stop()
  }
}

extension Sequence {
  /// `map` with an async transform, in order.
  func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
    var result: [T] = []
    for element in self { result.append(try await transform(element)) }
    return result
  }
}

@Suite("Callers on the main actor")
struct MainActorCallerTests {
  @MainActor
  @Test(
    "a client on the main actor connects by name over TLS and by address over TCP (the platform work still runs on the loop)"
  )
  func clientOnMainActor() async throws {
    try await withServer(seedEchoApplication()) { configuration in
      configuration.tls = TLSServerConfiguration(
        certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"))
    } _: { _, port in
      let reply = try await client.wss("wss://localhost:\(port)/") { request in
        request.tls.trustRoots = .file(certificate("ca.pem"))
      } _: { session in
        try await session.send("from main")
        return try await session.incoming.receive().readText()
      }
      #expect(reply == "YOU SAID: from main")
    }
    try await withServer(seedEchoApplication()) { _, port in
      let reply = try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
        try await session.send("plain")
        return try await session.incoming.receive().readText()
      }
      #expect(reply == "YOU SAID: plain")
    }
  }
}
