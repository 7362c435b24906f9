import Testing
import WispCommon

/// The sans-I/O connection: events for received bytes, bytes for sent frames, the closing handshake.
@Suite("RFC 6455 sections 5-7: connection state machine")
struct ConnectionStateMachineTests {
  /// A server-side machine; client frames fed to it are masked with `testMask`.
  static func server(mode: ConnectionStateMachine.Mode = .default, maxMessageSize: Int = 1 << 20)
    -> ConnectionStateMachine
  {
    ConnectionStateMachine(configuration: .init(role: .server, mode: mode, maxMessageSize: maxMessageSize))
  }

  static func fromClient(fin: Bool = true, _ opcode: Opcode, _ payload: [UInt8], rsv: UInt8 = 0) -> [UInt8] {
    wireFrame(fin: fin, opcode: opcode, rsv: rsv, payload: payload, mask: testMask)
  }

  static func decodeOutput(_ machine: inout ConnectionStateMachine) throws -> [FrameDecoder.DecodedFrame] {
    let role = machine.configuration.role
    let configuration = role == .server ? clientDecoder : serverDecoder
    return try decodeAll(machine.takeOutput(), cuts: [], configuration: configuration)
  }

  @Test("a large unmasked payload is queued by reference, between the frames around it, in order")
  func largePayloadByReference() throws {
    var machine = Self.server()
    let large = [UInt8]((0..<ConnectionStateMachine.zeroCopyThreshold + 5).map { UInt8(truncatingIfNeeded: $0) })
    try machine.send(.text("before"))
    try machine.send(.binary(large))
    try machine.send(.text("after"))
    #expect(machine.outputCount == 2 + 6 + 10 + large.count + 2 + 5)
    var pieces: [[UInt8]] = []
    while let chunk = machine.takeQueuedChunk() { pieces.append(chunk) }
    pieces.append(machine.takeOutput())
    #expect(!machine.hasOutput)
    // "before" and the large frame's header; the payload itself (the same storage, not a copy); "after".
    #expect(pieces.count == 3)
    #expect(pieces[1].withUnsafeBufferPointer { $0.baseAddress } == large.withUnsafeBufferPointer { $0.baseAddress })
    let frames = try decodeAll(Array(pieces.joined()), cuts: [], configuration: clientDecoder)
    #expect(frames.map(\.payload) == [Array("before".utf8), large, Array("after".utf8)])
    // A caller that takes everything at once gets the same bytes in one buffer.
    try machine.send(.binary(large))
    try machine.send(.text("tail"))
    let flat = try decodeAll(machine.takeOutput(), cuts: [], configuration: clientDecoder)
    #expect(flat.map(\.payload) == [large, Array("tail".utf8)])
  }

  @Test("section 5.3: a large client payload is masked into a copy of its own (the caller's array is untouched)")
  func largeMaskedPayload() throws {
    var machine = ConnectionStateMachine(configuration: .init(role: .client), random: FixedRandom([1, 2, 3, 4]))
    let large = [UInt8]((0..<ConnectionStateMachine.zeroCopyThreshold + 3).map { UInt8(truncatingIfNeeded: $0 * 7) })
    let original = large
    try machine.send(.text("a"))
    try machine.send(.binary(large))
    try machine.send(.text("b"))
    let frames = try decodeAll(machine.takeOutput(), cuts: [7, 30_000], configuration: serverDecoder)
    #expect(frames.map(\.payload) == [Array("a".utf8), original, Array("b".utf8)])
    #expect(frames.allSatisfy { $0.header.maskingKey != nil })
    #expect(large == original)
  }

  @Test("a held failure close lets answers go out first; the close follows on release; input stays ignored")
  func heldFailureClose() throws {
    var machine = Self.server()
    machine.holdsFailureClose = true
    let events = machine.receive(Self.fromClient(.text, Array("hi".utf8)) + Self.fromClient(.text, [0xC3, 0x28]))
    #expect(events.count == 2)
    guard case .failed(let violation)? = events.last else {
      Issue.record("expected a failure, got \(events)")
      return
    }
    #expect(violation.closeCode == .notConsistent)
    #expect(!machine.hasOutput, "the close frame is held")
    try machine.send(.text("YOU SAID: hi"))
    #expect(machine.receive(Self.fromClient(.text, Array("late".utf8))).isEmpty, "input after the violation")
    machine.releaseFailureClose()
    let output = try Self.decodeOutput(&machine)
    #expect(output.map(\.header.opcode) == [.text, .close])
    #expect(Array(output[1].payload.prefix(2)) == [0x03, 0xEF])
    #expect(throws: ConnectionUsageError.alreadyClosed) { try machine.send(.text("after")) }
  }

  @Test("section 5.5.2: a ping is answered with a pong carrying the same payload")
  func pingPong() throws {
    var machine = Self.server()
    let result1 = machine.receive(Self.fromClient(.ping, [1, 2, 3]))
    #expect(result1 == [.ping([1, 2, 3])])
    let output = try Self.decodeOutput(&machine)
    #expect(output.count == 1 && output[0].header.opcode == .pong && output[0].payload == [1, 2, 3])
    #expect(output[0].header.maskingKey == nil, "a server does not mask")
  }

  @Test("section 5.5.3: an unsolicited pong is reported and not answered")
  func unsolicitedPong() {
    var machine = Self.server()
    let result2 = machine.receive(Self.fromClient(.pong, [9]))
    #expect(result2 == [.pong([9])])
    #expect(!machine.hasOutput)
  }

  @Test("section 5.4: fragments reassemble, with control frames injected between them")
  func reassembly() throws {
    var machine = Self.server()
    let bytes =
      Self.fromClient(fin: false, .text, Array("Hel".utf8)) + Self.fromClient(.ping, [7])
      + Self.fromClient(fin: false, .continuation, Array("l".utf8)) + Self.fromClient(.continuation, Array("o".utf8))
    let result3 = machine.receive(bytes)
    #expect(result3 == [.ping([7]), .frame(.text("Hello"))])
    let pongs = try Self.decodeOutput(&machine)
    #expect(pongs.map(\.header.opcode) == [.pong])
  }

  @Test("section 5.4: a continuation without a start, or a new message inside one, fails with 1002")
  func fragmentationViolations() throws {
    var orphan = Self.server()
    let result4 = orphan.receive(Self.fromClient(.continuation, [1]))
    #expect(result4 == [.failed(.continuationWithoutStart)])
    let close = try Self.decodeOutput(&orphan)
    #expect(close.count == 1 && close[0].header.opcode == .close)
    #expect(Array(close[0].payload.prefix(2)) == [0x03, 0xEA], "1002")
    #expect(orphan.state == .closed)

    var nested = Self.server()
    let events = nested.receive(Self.fromClient(fin: false, .binary, [1]) + Self.fromClient(.text, [2]))
    #expect(events == [.failed(.newMessageInsideFragmentedMessage(.text))])
  }

  @Test("section 8.1: invalid UTF-8 fails with 1007 before the frame is complete")
  func failFastUTF8() throws {
    var machine = Self.server()
    // A 20-byte text frame whose 3rd byte is invalid; deliver only its first 2+4+5 bytes.
    var payload = Array("ab".utf8) + [0xFF] + [UInt8](repeating: 0x61, count: 17)
    let frame = Self.fromClient(.text, payload)
    let result5 = machine.receive(Array(frame.prefix(11)))
    #expect(result5 == [.failed(.invalidUTF8)])
    let close = try Self.decodeOutput(&machine)
    #expect(Array(close[0].payload.prefix(2)) == [0x03, 0xEF], "1007")

    // A code point split across two fragments is fine; a bad continuation in the second fragment fails there.
    var split = Self.server()
    payload = [0xF0, 0x9F]
    let good = Self.fromClient(fin: false, .text, payload) + Self.fromClient(.continuation, [0x98, 0x80])
    let result6 = split.receive(good)
    #expect(result6 == [.frame(.text("😀"))])
    var bad = Self.server()
    let events = bad.receive(
      Self.fromClient(fin: false, .text, [0xF0, 0x9F]) + Self.fromClient(fin: false, .continuation, [0x41]))
    #expect(events == [.failed(.invalidUTF8)])
    // A message that ends inside a code point is invalid.
    var truncated = Self.server()
    let result7 = truncated.receive(Self.fromClient(.text, [0xE2, 0x82]))
    #expect(result7 == [.failed(.invalidUTF8)])
  }

  @Test("fillPayload: only inside a large enough frame, unmasks what it writes, and text is checked as it arrives")
  func directFill() throws {
    var machine = Self.server()
    let text = [UInt8](repeating: 0x61, count: 100_000)
    let frame = Self.fromClient(.text, text)
    // Between frames there is nothing to fill: the reader is not called.
    #expect(
      machine.fillPayload(ifOutstandingAtLeast: 1) { _ in
        Issue.record("called between frames")
        return 0
      } == nil)
    #expect(machine.receive(Array(frame.prefix(1000))) == [])
    let outstanding = text.count - (1000 - 14)
    #expect(machine.fillPayload(ifOutstandingAtLeast: outstanding + 1) { _ in -1 } == nil, "below the minimum")
    // The rest, written masked as it came off the wire, in two direct reads.
    var position = 1000
    for _ in 0..<2 {
      let result = machine.fillPayload(ifOutstandingAtLeast: 1) { destination in
        let count = min(60_000, destination.count)
        frame.withUnsafeBytes {
          destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position..<position + count]))
        }
        return count
      }
      position += try #require(result)
    }
    #expect(position == frame.count)
    #expect(machine.receive([]) == [.frame(.text(String(decoding: text, as: UTF8.self)))])

    // Invalid UTF-8 written directly fails at the next receive, before the frame completes.
    var bad = Self.server()
    var invalid = text
    invalid[50_000] = 0xFF
    let badFrame = Self.fromClient(.text, invalid)
    #expect(bad.receive(Array(badFrame.prefix(14))) == [])
    let written = bad.fillPayload(ifOutstandingAtLeast: 1) { destination in
      badFrame.withUnsafeBytes { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[14..<60_014])) }
      return 60_000
    }
    #expect(written == 60_000)
    #expect(bad.receive([]) == [.failed(.invalidUTF8)])
    #expect(
      bad.fillPayload(ifOutstandingAtLeast: 1) { _ in
        Issue.record("called after a failure")
        return 0
      } == nil)
  }

  @Test("a fragmented message over maxMessageSize fails with 1009 on the header of the frame that exceeds it")
  func messageTooBig() throws {
    var machine = Self.server(maxMessageSize: 10)
    let first = Self.fromClient(fin: false, .binary, [UInt8](repeating: 1, count: 8))
    let second = Self.fromClient(.continuation, [UInt8](repeating: 1, count: 8))
    // Only the header and one payload byte of the second frame arrive.
    let events = machine.receive(first + Array(second.prefix(7)))
    #expect(events == [.failed(.messageTooBig(size: 16, limit: 10))])
    let tooBigClose = try Self.decodeOutput(&machine)
    #expect(Array(tooBigClose[0].payload.prefix(2)) == [0x03, 0xF1], "1009")
  }

  @Test("section 7: the peer's close is reported, answered by the caller, and nothing after it is read")
  func peerInitiatedClose() throws {
    var machine = Self.server()
    let close = Self.fromClient(.close, CloseReason(.goingAway, "bye").payload)
    let events = machine.receive(close + Self.fromClient(.text, Array("late".utf8)))
    #expect(events == [.closeReceived(CloseReason(.goingAway, "bye"))])
    #expect(machine.state == .closingByPeer)
    // The application may still send what it queued before answering.
    try machine.send(.text("last words"))
    #expect(machine.closeReplyReason.code == .goingAway)
    let result8 = machine.close(machine.closeReplyReason)
    #expect(result8)
    #expect(machine.state == .closed)
    let output = try Self.decodeOutput(&machine)
    #expect(output.map(\.header.opcode) == [.text, .close])
    #expect(throws: ConnectionUsageError.alreadyClosed) { try machine.send(.text("too late")) }
    let result9 = machine.receiveEndOfStream()
    #expect(result9 == nil, "EOF after the handshake is normal")
  }

  @Test("section 7: our close, then data still received, then the peer's close completes the handshake")
  func locallyInitiatedClose() throws {
    var machine = ConnectionStateMachine(configuration: .init(role: .client), random: FixedRandom([1, 2, 3, 4]))
    let result10 = machine.close(CloseReason(.normal, "done"))
    #expect(result10)
    let secondClose = machine.close(CloseReason(.normal, "again"))
    #expect(!secondClose, "close is sent once")
    #expect(machine.state == .closingByUs)
    #expect(throws: ConnectionUsageError.alreadyClosed) { try machine.send(.binary([1])) }
    let sent = try Self.decodeOutput(&machine)
    #expect(
      sent.count == 1 && sent[0].header.maskingKey != nil && sent[0].payload == CloseReason(.normal, "done").payload)
    let events = machine.receive(
      wireFrame(opcode: .text, payload: Array("in flight".utf8)) + wireFrame(opcode: .close, payload: [0x03, 0xE8]))
    #expect(events == [.frame(.text("in flight")), .closeReceived(CloseReason(.normal))])
    #expect(machine.state == .closed)
  }

  @Test("section 5.5.1: a close frame with an invalid code or a 1-byte payload fails with 1002")
  func invalidClose() throws {
    var machine = Self.server()
    let result11 = machine.receive(Self.fromClient(.close, [0x03, 0xED]))
    #expect(result11 == [.failed(.invalidCloseCode(1005))])
    let invalidClose = try Self.decodeOutput(&machine)
    #expect(Array(invalidClose[0].payload.prefix(2)) == [0x03, 0xEA])
    var short = Self.server()
    let result12 = short.receive(Self.fromClient(.close, [0x03]))
    #expect(result12 == [.failed(.invalidClosePayload)])
  }

  @Test("section 7.1.5: EOF without a close frame is an abnormal closure (1006)")
  func abnormalClosure() {
    var machine = Self.server()
    let result13 = machine.receive(Self.fromClient(fin: false, .text, [0x41]))
    #expect(result13 == [])
    let result14 = machine.receiveEndOfStream()
    #expect(result14 == .closedWithoutCloseFrame)
    #expect(machine.state == .closed)
  }

  @Test("after a failure, further input is ignored and no second close is sent")
  func nothingAfterFailure() throws {
    var machine = Self.server()
    _ = machine.receive(Self.fromClient(.continuation, [1]))
    _ = machine.takeOutput()
    let result15 = machine.receive(Self.fromClient(.ping, [1]))
    #expect(result15 == [])
    #expect(!machine.hasOutput)
  }

  @Test("outgoing fragments: the first frame carries the opcode, the rest are continuations (opcode 0)")
  func outgoingFragmentation() throws {
    var machine = Self.server()
    try machine.send(.text("Part 1 ", fin: false))
    try machine.send(try .ping([1]))
    try machine.send(.text("Part 2 ", fin: false))
    #expect(throws: ConnectionUsageError.interleavedMessage(open: .text, sent: .binary)) {
      try machine.send(.binary([1]))
    }
    try machine.send(.text("Part 3", fin: true))
    try machine.send(.binary([1, 2, 3, 4, 5]))
    let frames = try Self.decodeOutput(&machine)
    #expect(frames.map(\.header.opcode) == [.text, .ping, .continuation, .continuation, .binary])
    #expect(frames.map(\.header.fin) == [false, true, false, true, true])

    // And the receiving side reassembles it.
    var client = ConnectionStateMachine(configuration: .init(role: .client))
    var bytes: [UInt8] = []
    for frame in frames {
      FrameEncoder.encode(
        fin: frame.header.fin, opcode: frame.header.opcode, payload: frame.payload, maskingKey: nil, into: &bytes)
    }
    let result16 = client.receive(bytes)
    #expect(result16 == [.ping([1]), .frame(.text("Part 1 Part 2 Part 3")), .frame(.binary([1, 2, 3, 4, 5]))])
  }

  @Test("raw mode: every frame as it arrives, control frames included, nothing answered")
  func rawMode() {
    var machine = Self.server(mode: .raw)
    let bytes =
      Self.fromClient(fin: false, .text, Array("Hel".utf8)) + Self.fromClient(.ping, [7])
      + Self.fromClient(.continuation, Array("lo".utf8)) + Self.fromClient(.close, [0x03, 0xE8])
    let events = machine.receive(bytes)
    #expect(
      events == [
        .frame(.text("Hel", fin: false)), .frame(try! .ping([7])), .frame(.text("lo")),
        .frame(.close(CloseReason(.normal))),
      ])
    #expect(!machine.hasOutput, "no automatic pong or close reply")
    #expect(machine.state == .closingByPeer)
  }

  @Test("server masking option: a server configured to mask sends masked frames")
  func serverMasking() throws {
    var machine = ConnectionStateMachine(configuration: .init(role: .server, masksOutgoingFrames: true))
    try machine.send(.text("x"))
    let masked = try decodeAll(machine.takeOutput(), cuts: [], configuration: serverDecoder)
    #expect(masked[0].payload == [0x78])
  }
}
