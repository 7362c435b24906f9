import Testing
import WispCommon
import WispLinuxPlatform

@Suite("Server side of the opening handshake over sockets")
struct AcceptTests {
  /// Accepts one connection with `WebSocketConnection.accept` and reports its outcome.
  static func acceptOne(
    _ listener: SocketListener, timeout: Duration = .seconds(5)
  ) -> Task<Result<ServerHandshake.Upgrade, any Error>, Never> {
    Task {
      do {
        let socket = try await listener.accept()
        let (_, upgrade) = try await WebSocketConnection.accept(
          over: socket, configuration: .init(role: .server), timeout: timeout,
          selectSubprotocol: { $0.contains("chat") ? "chat" : nil })
        return .success(upgrade)
      } catch {
        return .failure(error)
      }
    }
  }

  /// Sends `request` on a raw socket and returns what the server answered (until it closes or 2 s pass).
  static func exchange(_ port: Int, _ request: String) async throws -> String {
    let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[1])
    return try await withTaskExecutorPreference(socket.loop) {
      try await socket.write(Array(request.utf8))
      var answer: [UInt8] = []
      while !answer.contains(10) || !String(decoding: answer, as: UTF8.self).contains("\r\n\r\n") {
        let chunk = try await socket.read { Array($0) }
        if chunk.isEmpty { break }
        answer += chunk
      }
      await socket.close()
      return String(decoding: answer, as: UTF8.self)
    }
  }

  @Test("a valid request is answered 101 with the accept value and the selected subprotocol")
  func accepts() async throws {
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let outcome = Self.acceptOne(listener)
    let answer = try await Self.exchange(
      listener.localAddress.port ?? 0,
      "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + "Sec-WebSocket-Protocol: superchat, chat\r\n\r\n")
    #expect(answer.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
    #expect(answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
    #expect(answer.contains("Sec-WebSocket-Protocol: chat\r\n"))
    guard case .success(let upgrade) = await outcome.value else {
      Issue.record("accept failed")
      return
    }
    #expect(upgrade.request.path == "/chat")
    await listener.close()
  }

  @Test("a wrong version is answered 426 with Sec-WebSocket-Version: 13; a missing key 400")
  func refuses() async throws {
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let port = listener.localAddress.port ?? 0
    let first = Self.acceptOne(listener)
    let versionAnswer = try await Self.exchange(
      port,
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
    #expect(versionAnswer.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
    #expect(versionAnswer.contains("Sec-WebSocket-Version: 13\r\n"))
    guard case .failure(let error) = await first.value, let rejection = error as? ServerHandshake.Rejection else {
      Issue.record("a wrong version must be refused")
      return
    }
    #expect(rejection.status == 426)
    let second = Self.acceptOne(listener)
    let keyAnswer = try await Self.exchange(
      port,
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
    #expect(keyAnswer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    _ = await second.value
    await listener.close()
  }

  @Test("a client that never finishes its request is dropped after the handshake timeout")
  func slowClient() async throws {
    let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
    let outcome = Self.acceptOne(listener, timeout: .milliseconds(200))
    let socket = try await SocketConnector.connect(
      to: .host("127.0.0.1", port: listener.localAddress.port ?? 0), on: testGroup.loops[1])
    let eof = try await withTaskExecutorPreference(socket.loop) {
      try await socket.write(Array("GET / HTTP/1.1\r\nHost: h\r\n".utf8))  // and nothing more
      // Dropped: an end of stream, or a reset when the deadline came before the server had read these bytes (a
      // close with unread data resets the connection; seen when the whole suite runs at once in a release build).
      do {
        return try await socket.read { $0.isEmpty }
      } catch TransportError.connectionReset {
        return true
      }
    }
    #expect(eof, "the server closed the connection")
    guard case .failure(let error) = await outcome.value else {
      Issue.record("a slow client must be dropped")
      return
    }
    #expect(
      error as? TransportError == .timedOut(operation: "waiting for the opening handshake", limit: .milliseconds(200)))
    await socket.close()
    await listener.close()
  }
}
