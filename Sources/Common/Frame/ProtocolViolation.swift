/// Something the peer sent that RFC 6455 forbids. Each case maps to the close code the connection fails with,
/// in exactly one place: ``closeCode``.
///
/// Caller misuse is a different type (``FrameConstructionError``, ``ConnectionUsageError``): a violation is
/// always the peer's fault.
public enum ProtocolViolation: Error, Sendable, Hashable, CustomStringConvertible {
  /// An opcode of the reserved ranges 0x3-0x7 or 0xB-0xF (RFC 6455 section 5.2: "If an unknown opcode is
  /// received, the receiving endpoint MUST _Fail the WebSocket Connection_").
  case reservedOpcode(UInt8)
  /// RSV bits set without a negotiated extension that defines them (RFC 6455 section 5.2: "If a nonzero value is
  /// received and none of the negotiated extensions defines the meaning of such a nonzero value, the receiving
  /// endpoint MUST _Fail the WebSocket Connection_"). Carries the bits as in the first header byte.
  case reservedBitsSet(UInt8)
  /// A control frame with FIN clear (RFC 6455 section 5.5: control frames "MUST NOT be fragmented").
  case fragmentedControlFrame(Opcode)
  /// A control frame longer than 125 bytes (RFC 6455 section 5.5).
  case controlFrameTooLong(Opcode, length: UInt64)
  /// A 16- or 64-bit length that would have fitted a shorter form (RFC 6455 section 5.2: "the minimal number of
  /// bytes MUST be used to encode the length").
  case nonMinimalLength(UInt64)
  /// A 64-bit length with its most significant bit set (RFC 6455 section 5.2: "the most significant bit MUST
  /// be 0").
  case lengthHighBitSet
  /// A client frame without a mask (RFC 6455 section 5.1: "The server MUST close the connection upon receiving a
  /// frame that is not masked").
  case unmaskedClientFrame
  /// A server frame with a mask (RFC 6455 section 5.1: "A client MUST close a connection if it detects a masked
  /// frame").
  case maskedServerFrame
  /// A continuation frame with no message in progress (RFC 6455 section 5.4).
  case continuationWithoutStart
  /// A new text or binary frame while a fragmented message is still open (RFC 6455 section 5.4: fragments of
  /// one message must not be interleaved with another).
  case newMessageInsideFragmentedMessage(Opcode)
  /// A close frame whose payload is exactly one byte (RFC 6455 section 5.5.1: a body starts with a 2-byte code).
  case invalidClosePayload
  /// A close code that may not appear on the wire (RFC 6455 section 7.4).
  case invalidCloseCode(UInt16)
  /// Text that is not UTF-8 (RFC 6455 section 8.1: "When an endpoint is to interpret a byte stream as UTF-8 but
  /// finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
  /// Connection_"); close code 1007.
  case invalidUTF8
  /// A frame whose declared length exceeds the configured `maxFrameSize`; close code 1009.
  case frameTooBig(size: UInt64, limit: Int)
  /// A message whose total size exceeds the configured `maxMessageSize`; close code 1009.
  case messageTooBig(size: UInt64, limit: Int)
  /// An extension could not process a frame (for example corrupt deflate data); carries the extension's
  /// message and the close code it asks for.
  case extensionFailure(String, code: CloseReason.Code)

  /// The status code to fail the connection with. This is the one place where violations meet close codes.
  public var closeCode: CloseReason.Code {
    switch self {
    case .invalidUTF8: .notConsistent
    case .frameTooBig, .messageTooBig: .tooBig
    case .extensionFailure(_, let code): code
    case .reservedOpcode, .reservedBitsSet, .fragmentedControlFrame, .controlFrameTooLong, .nonMinimalLength,
      .lengthHighBitSet, .unmaskedClientFrame, .maskedServerFrame, .continuationWithoutStart,
      .newMessageInsideFragmentedMessage, .invalidClosePayload, .invalidCloseCode:
      .protocolError
    }
  }

  /// The close frame's reason: the code plus a short message (cut to 123 bytes).
  public var closeReason: CloseReason { CloseReason(code: closeCode, message: description) }

  /// A sentence that says what the peer did wrong.
  public var description: String {
    switch self {
    case .reservedOpcode(let op): "reserved opcode 0x\(String(op, radix: 16))"
    case .reservedBitsSet(let bits): "RSV bits 0x\(String(bits, radix: 16)) set without a negotiated extension"
    case .fragmentedControlFrame(let op): "fragmented \(op) frame"
    case .controlFrameTooLong(let op, let length): "\(op) frame of \(length) bytes (limit 125)"
    case .nonMinimalLength(let length): "payload length \(length) not in its minimal encoding"
    case .lengthHighBitSet: "64-bit payload length with the most significant bit set"
    case .unmaskedClientFrame: "client frame is not masked"
    case .maskedServerFrame: "server frame is masked"
    case .continuationWithoutStart: "continuation frame without a message to continue"
    case .newMessageInsideFragmentedMessage(let op): "\(op) frame inside a fragmented message"
    case .invalidClosePayload: "close frame with a 1-byte payload"
    case .invalidCloseCode(let code): "invalid close code \(code)"
    case .invalidUTF8: "invalid UTF-8 in text"
    case .frameTooBig(let size, let limit): "frame of \(size) bytes exceeds the limit of \(limit)"
    case .messageTooBig(let size, let limit): "message of \(size) bytes exceeds the limit of \(limit)"
    case .extensionFailure(let message, _): message
    }
  }
}
