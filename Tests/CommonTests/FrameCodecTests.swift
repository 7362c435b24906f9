import Testing
import WispCommon

/// RFC 6455 section 5.7 examples and the framing rules of section 5.2, decoded and encoded.
@Suite("RFC 6455 section 5: frame codec")
struct FrameCodecTests {
  /// Section 5.7: "A single-frame unmasked text message (contains 'Hello')".
  static let unmaskedHello: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
  /// Section 5.7: "A single-frame masked text message (contains 'Hello')".
  static let maskedHello: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
  /// Section 5.7: "A fragmented unmasked text message": "Hel" then "lo".
  static let fragmentedHello: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]
  /// Section 5.7: "Unmasked Ping request and masked Ping response" ("Hello" both).
  static let unmaskedPing: [UInt8] = [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
  static let maskedPong: [UInt8] = [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
  /// Section 5.7: "256 bytes binary message in a single unmasked frame" (header only; payload appended).
  static let binary256Header: [UInt8] = [0x82, 0x7E, 0x01, 0x00]
  /// Section 5.7: "64KiB binary message in a single unmasked frame" (header only).
  static let binary64KHeader: [UInt8] = [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]

  let hello = Array("Hello".utf8)

  @Test("section 5.7 examples decode to their frames")
  func decodesRFCExamples() throws {
    let text = try decodeAll(Self.unmaskedHello, cuts: [], configuration: clientDecoder)
    #expect(text.count == 1 && text[0].header.opcode == .text && text[0].header.fin && text[0].payload == hello)

    let masked = try decodeAll(Self.maskedHello, cuts: [], configuration: serverDecoder)
    #expect(masked[0].payload == hello && masked[0].header.maskingKey == testMask)

    let fragments = try decodeAll(Self.fragmentedHello, cuts: [], configuration: clientDecoder)
    #expect(fragments.map(\.header.opcode) == [.text, .continuation])
    #expect(fragments.map(\.header.fin) == [false, true])
    #expect(fragments.flatMap(\.payload) == hello)

    #expect(try decodeAll(Self.unmaskedPing, cuts: [], configuration: clientDecoder)[0].header.opcode == .ping)
    let pong = try decodeAll(Self.maskedPong, cuts: [], configuration: serverDecoder)
    #expect(pong[0].header.opcode == .pong && pong[0].payload == hello)

    let payload256 = (0..<256).map { UInt8(truncatingIfNeeded: $0) }
    let binary = try decodeAll(Self.binary256Header + payload256, cuts: [], configuration: clientDecoder)
    #expect(binary[0].header.opcode == .binary && binary[0].payload == payload256)

    let payload64K = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let big = try decodeAll(Self.binary64KHeader + payload64K, cuts: [], configuration: clientDecoder)
    #expect(big[0].payload == payload64K)
  }

  @Test("section 5.7 examples are what the encoder produces")
  func encodesRFCExamples() {
    #expect(wireFrame(opcode: .text, payload: hello) == Self.unmaskedHello)
    #expect(wireFrame(opcode: .text, payload: hello, mask: testMask) == Self.maskedHello)
    #expect(
      wireFrame(fin: false, opcode: .text, payload: Array("Hel".utf8))
        + wireFrame(opcode: .continuation, payload: Array("lo".utf8)) == Self.fragmentedHello)
    #expect(wireFrame(opcode: .ping, payload: hello) == Self.unmaskedPing)
    #expect(wireFrame(opcode: .pong, payload: hello, mask: testMask) == Self.maskedPong)
    #expect(
      Array(wireFrame(opcode: .binary, payload: [UInt8](repeating: 1, count: 256)).prefix(4)) == Self.binary256Header)
    #expect(
      Array(wireFrame(opcode: .binary, payload: [UInt8](repeating: 1, count: 65536)).prefix(10)) == Self.binary64KHeader
    )
  }

  @Test("every example decodes the same when split at every byte boundary")
  func splitsAtEveryBoundary() throws {
    let payload300 = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 31) }
    let stream =
      Self.fragmentedHello + Self.unmaskedPing + Self.unmaskedHello + Self.binary256Header
      + (0..<256).map { UInt8(truncatingIfNeeded: $0) } + wireFrame(opcode: .binary, payload: payload300)
    let whole = try decodeAll(stream, cuts: [], configuration: clientDecoder)
    #expect(whole.count == 6)
    for cut in 0...stream.count {
      #expect(try decodeAll(stream, cuts: [cut], configuration: clientDecoder) == whole, "cut at \(cut)")
    }
    // Every byte on its own.
    #expect(try decodeAll(stream, cuts: Array(0...stream.count), configuration: clientDecoder) == whole)

    // Masked frames: the mask phase must survive splits inside the payload.
    let masked = Self.maskedHello + wireFrame(opcode: .binary, payload: payload300, mask: MaskingKey(1, 2, 3, 4))
    let maskedWhole = try decodeAll(masked, cuts: [], configuration: serverDecoder)
    #expect(maskedWhole[1].payload == payload300)
    for first in 0...masked.count {
      for second in stride(from: first, through: masked.count, by: 7) {
        #expect(try decodeAll(masked, cuts: [first, second], configuration: serverDecoder) == maskedWhole)
      }
    }
  }

  @Test("lengths use the minimal encoding at the 125/126 and 65535/65536 edges")
  func minimalLengthEncoding() throws {
    for (length, headerSize) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
      let frame = wireFrame(opcode: .binary, payload: [UInt8](repeating: 0xAB, count: length))
      #expect(frame.count == headerSize + length)
      let decoded = try decodeAll(frame, cuts: [], configuration: clientDecoder)
      #expect(decoded[0].payload.count == length)
    }
  }

  @Test("reserved opcodes 0x3-0x7 and 0xB-0xF fail with 1002", arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
  func rejectsReservedOpcodes(opcode: UInt8) {
    #expect(throws: ProtocolViolation.reservedOpcode(opcode)) {
      try decodeAll([0x80 | opcode, 0x00], cuts: [], configuration: clientDecoder)
    }
    #expect(ProtocolViolation.reservedOpcode(opcode).closeCode == .protocolError)
  }

  @Test("RSV bits fail unless an extension claims them")
  func rejectsReservedBits() throws {
    for bits: UInt8 in [0x40, 0x20, 0x10, 0x70] {
      #expect(throws: ProtocolViolation.reservedBitsSet(bits)) {
        try decodeAll([0x81 | bits, 0x00], cuts: [], configuration: clientDecoder)
      }
    }
    var withRSV1 = clientDecoder
    withRSV1.allowedReservedBits = 0x40
    #expect(try decodeAll([0xC1, 0x00], cuts: [], configuration: withRSV1)[0].header.reservedBits == 0x40)
    #expect(throws: ProtocolViolation.reservedBitsSet(0x60)) {
      try decodeAll([0xE1, 0x00], cuts: [], configuration: withRSV1)
    }
  }

  @Test("control frames: never fragmented, never over 125 bytes")
  func controlFrameRules() {
    #expect(throws: ProtocolViolation.fragmentedControlFrame(.ping)) {
      try decodeAll([0x09, 0x00], cuts: [], configuration: clientDecoder)
    }
    #expect(throws: ProtocolViolation.controlFrameTooLong(.close, length: 126)) {
      try decodeAll([0x88, 0x7E, 0x00, 0x7E], cuts: [], configuration: clientDecoder)
    }
    #expect(throws: ProtocolViolation.controlFrameTooLong(.pong, length: 127)) {
      try decodeAll([0x8A, 0x7F], cuts: [], configuration: clientDecoder)
    }
  }

  @Test("non-minimal lengths and a 64-bit length with the top bit set fail")
  func rejectsBadLengths() {
    #expect(throws: ProtocolViolation.nonMinimalLength(5)) {
      try decodeAll([0x82, 0x7E, 0x00, 0x05], cuts: [], configuration: clientDecoder)
    }
    #expect(throws: ProtocolViolation.nonMinimalLength(0xFFFF)) {
      try decodeAll([0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], cuts: [], configuration: clientDecoder)
    }
    #expect(throws: ProtocolViolation.lengthHighBitSet) {
      try decodeAll([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1], cuts: [], configuration: clientDecoder)
    }
  }

  @Test("masking direction: a server requires masks, a client refuses them")
  func maskingDirection() {
    #expect(throws: ProtocolViolation.unmaskedClientFrame) {
      try decodeAll(Self.unmaskedHello, cuts: [], configuration: serverDecoder)
    }
    #expect(throws: ProtocolViolation.maskedServerFrame) {
      try decodeAll(Self.maskedHello, cuts: [], configuration: clientDecoder)
    }
    #expect(ProtocolViolation.unmaskedClientFrame.closeCode == .protocolError)
  }

  @Test("maxFrameSize is checked on the header, before any payload arrives")
  func frameTooBigBeforePayload() {
    let limited = FrameDecoder.Configuration(expectsMaskedFrames: false, maxFrameSize: 1000)
    // Only the header of a 1 GiB frame: the decoder must refuse without waiting for the payload.
    let header: [UInt8] = [0x82, 0x7F, 0, 0, 0, 0, 0x40, 0, 0, 0]
    #expect(throws: ProtocolViolation.frameTooBig(size: 1 << 30, limit: 1000)) {
      try decodeAll(header, cuts: [3], configuration: limited)
    }
    #expect(ProtocolViolation.frameTooBig(size: 1, limit: 0).closeCode == .tooBig)
    // Exactly at the limit is allowed.
    #expect(throws: Never.self) {
      try decodeAll(
        wireFrame(opcode: .binary, payload: [UInt8](repeating: 0, count: 1000)), cuts: [], configuration: limited)
    }
  }

  @Test("client frames carry a fresh key from the injected random source")
  func clientMasksWithInjectedKeys() {
    var machine = ConnectionStateMachine(
      configuration: .init(role: .client), random: FixedRandom([0x37, 0xFA, 0x21, 0x3D]))
    #expect(throws: Never.self) { try machine.send(.text("Hello")) }
    #expect(machine.takeOutput() == Self.maskedHello)

    var sequential = ConnectionStateMachine(
      configuration: .init(role: .client), random: FixedRandom((0..<255).map { UInt8($0) }))
    #expect(throws: Never.self) {
      try sequential.send(.binary([0]))
      try sequential.send(.binary([0]))
    }
    let bytes = sequential.takeOutput()
    #expect(Array(bytes[2..<6]) == [0, 1, 2, 3])
    #expect(Array(bytes[9..<13]) == [4, 5, 6, 7])
  }
}
