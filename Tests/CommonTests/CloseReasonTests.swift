import Testing
import WispCommon

@Suite("RFC 6455 section 7.4: close codes and reasons")
struct CloseReasonTests {
  static let validCodes: [UInt16] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
  ]
  static let invalidCodes: [UInt16] = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]

  @Test("defined, registered and application codes are valid on the wire", arguments: validCodes)
  func validCode(code: UInt16) throws {
    let reason = try CloseReason.parse(closePayload: [UInt8(code >> 8), UInt8(code & 0xFF)] + Array("ok".utf8))
    #expect(reason == CloseReason(code: CloseReason.Code(rawValue: code), message: "ok"))
  }

  @Test("reserved, never-sent and undefined codes fail with 1002", arguments: invalidCodes)
  func invalidCode(code: UInt16) {
    #expect(throws: ProtocolViolation.invalidCloseCode(code)) {
      try CloseReason.parse(closePayload: [UInt8(code >> 8), UInt8(code & 0xFF)])
    }
    #expect(ProtocolViolation.invalidCloseCode(code).closeCode == .protocolError)
  }

  @Test("payloads: empty is 'no status', one byte is a protocol error, invalid UTF-8 reason is 1007")
  func payloadShapes() throws {
    #expect(try CloseReason.parse(closePayload: []) == nil)
    #expect(throws: ProtocolViolation.invalidClosePayload) { try CloseReason.parse(closePayload: [0x03]) }
    #expect(throws: ProtocolViolation.invalidUTF8) {
      try CloseReason.parse(closePayload: [0x03, 0xE8, 0xED, 0xA0, 0x80])
    }
    #expect(ProtocolViolation.invalidUTF8.closeCode == .notConsistent)
  }

  @Test("messages are cut to 123 bytes on a scalar boundary, so a close frame always fits")
  func truncatesMessage() throws {
    let long = String(repeating: "é", count: 100)  // 200 bytes
    let reason = CloseReason(.internalError, long)
    #expect(reason.message.utf8.count == 122)
    #expect(reason.payload.count <= 125)
    #expect(throws: Never.self) { try Frame(fin: true, frameType: .close, data: reason.payload) }
  }

  @Test("Ktor and RFC names denote the same codes")
  func aliases() {
    #expect(CloseReason.Code.tooBig == .messageTooBig && CloseReason.Code.tooBig.rawValue == 1009)
    #expect(CloseReason.Code.cannotAccept == .unsupportedData)
    #expect(CloseReason.Code.notConsistent == .invalidPayload)
    #expect(CloseReason.Code.violatedPolicy == .policyViolation)
    #expect(CloseReason.Code.noExtension == .mandatoryExtension)
    #expect(!CloseReason.Code.noStatus.isValidOnWire && !CloseReason.Code.abnormalClosure.isValidOnWire)
    #expect(!CloseReason.Code.tlsHandshakeFailed.isValidOnWire)
    #expect(Frame.close(CloseReason(.normal, "bye")).readReason() == CloseReason(.normal, "bye"))
    #expect(Frame.close().readReason() == nil)
  }

  @Test("control frames over 125 bytes cannot be constructed")
  func controlFrameConstruction() throws {
    #expect(throws: FrameConstructionError.controlPayloadTooLong(.ping, size: 126)) {
      try Frame.ping([UInt8](repeating: 0, count: 126))
    }
    #expect(throws: FrameConstructionError.fragmentedControlFrame(.pong)) {
      try Frame(fin: false, frameType: .pong, data: [])
    }
    #expect(throws: FrameConstructionError.notFinal) { try Frame.text("a", fin: false).readText() }
    #expect(try Frame.text("hé").readText() == "hé")
  }
}
