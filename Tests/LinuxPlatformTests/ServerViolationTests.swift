import Testing
import WispCommon
import WispLinuxPlatform

/// The server's push-mode reading over a raw socket: bytes a real client library would never send.
@Suite("Server protocol violations over a raw socket")
struct ServerViolationTests {
  /// A masked client frame, built by hand.
  static func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true) -> [UInt8] {
    let key: [UInt8] = [0x11, 0x22, 0x33, 0x44]
    precondition(payload.count < 126)
    var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode, (masked ? 0x80 : 0) | UInt8(payload.count)]
    if masked { frame += key }
    frame += payload.enumerated().map { masked ? $0.element ^ key[$0.offset & 3] : $0.element }
    return frame
  }

  /// Upgrades a raw socket to the echo route, sends `bytes` in one write, and returns every byte the server sends
  /// after its 101 response until it closes the connection (bounded by 5 s).
  static func send(_ bytes: [UInt8], port: Int) async throws -> [UInt8] {
    let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[1])
    return try await withTaskExecutorPreference(socket.loop) {
      let request =
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
      try await socket.write(Array(request.utf8) + bytes)
      try await socket.flush()
      var received: [UInt8] = []
      let deadline = ContinuousClock.now + .seconds(5)
      while ContinuousClock.now < deadline {
        let chunk = try await socket.read { Array($0) }
        if chunk.isEmpty { break }
        received += chunk
      }
      await socket.close()
      let text = String(decoding: received, as: UTF8.self)
      guard let end = text.utf8.firstRange(of: Array("\r\n\r\n".utf8)) else { return [] }
      #expect(text.hasPrefix("HTTP/1.1 101"))
      return Array(received[text.utf8.distance(from: text.utf8.startIndex, to: end.upperBound)...])
    }
  }

  /// The close code of the first close frame in `bytes` (server frames are unmasked), after `skipping` frames.
  static func frames(_ bytes: [UInt8]) -> [(opcode: UInt8, payload: [UInt8])] {
    var frames: [(UInt8, [UInt8])] = []
    var index = 0
    while index + 2 <= bytes.count {
      let length = Int(bytes[index + 1] & 0x7F)
      guard length < 126, index + 2 + length <= bytes.count else { break }
      frames.append((bytes[index] & 0x0F, Array(bytes[index + 2..<index + 2 + length])))
      index += 2 + length
    }
    return frames
  }

  @Test("section 8.1: invalid UTF-8 closes with 1007 after the messages before it are echoed")
  func invalidUTF8() async throws {
    try await withServer(seedEchoApplication()) { _, port in
      let bytes = try await Self.send(
        Self.clientFrame(0x1, Array("hi".utf8)) + Self.clientFrame(0x1, [0xC3, 0x28]), port: port)
      let frames = Self.frames(bytes)
      #expect(frames.first.map { String(decoding: $0.payload, as: UTF8.self) } == "YOU SAID: hi")
      #expect(frames.last?.opcode == 0x8)
      #expect(frames.last.map { Array($0.payload.prefix(2)) } == [0x03, 0xEF], "1007")
    }
  }

  @Test("section 5.1: an unmasked client frame closes with 1002; a ping in the same read is answered first")
  func unmaskedFrame() async throws {
    try await withServer(seedEchoApplication()) { _, port in
      let bytes = try await Self.send(
        Self.clientFrame(0x9, [7, 7]) + Self.clientFrame(0x1, Array("x".utf8), masked: false), port: port)
      let frames = Self.frames(bytes)
      #expect(frames.first?.opcode == 0xA && frames.first?.payload == [7, 7], "pong first")
      #expect(frames.last?.opcode == 0x8)
      #expect(frames.last.map { Array($0.payload.prefix(2)) } == [0x03, 0xEA], "1002")
    }
  }

  @Test("section 5.4: a continuation without a message closes with 1002; a close without status is answered 1000")
  func continuationAndClose() async throws {
    try await withServer(seedEchoApplication()) { _, port in
      let orphan = Self.frames(try await Self.send(Self.clientFrame(0x0, [1]), port: port))
      #expect(orphan.last.map { Array($0.payload.prefix(2)) } == [0x03, 0xEA], "1002")
      let closed = Self.frames(try await Self.send(Self.clientFrame(0x8, []), port: port))
      #expect(closed.count == 1 && closed[0].opcode == 0x8)
      #expect(
        closed.first?.payload.isEmpty == true || closed.first.map { Array($0.payload.prefix(2)) } == [0x03, 0xE8])
    }
  }
}
