/// One WebSocket frame in the public model: Ktor's `Frame`.
///
/// The invariants of RFC 6455 section 5.5 hold for every value: a control frame (close, ping, pong) has
/// `fin == true` and at most 125 bytes of payload. The initializers that could break them throw
/// ``FrameConstructionError``.
///
/// A default session delivers whole messages (`fin == true`); a raw session delivers fragments as they arrive,
/// where a continuation frame appears as a `text`/`binary` frame of its message's type.
public struct Frame: Sendable, Hashable, CustomStringConvertible {
  /// The largest payload of a control frame: "All control frames MUST have a payload length of 125 bytes or
  /// less and MUST NOT be fragmented" (RFC 6455 section 5.5).
  public static let maxControlPayload = 125

  /// `true` when this is the final fragment of its message.
  public let fin: Bool
  /// The frame's type.
  public let frameType: FrameType
  /// The (unmasked) payload.
  public let data: [UInt8]
  /// The RSV1 bit; meaningful only with an extension that claims it (permessage-deflate uses it).
  public let rsv1: Bool
  /// The RSV2 bit; meaningful only with an extension that claims it.
  public let rsv2: Bool
  /// The RSV3 bit; meaningful only with an extension that claims it.
  public let rsv3: Bool

  /// Creates a frame, checking the control-frame rules.
  ///
  /// - Throws: ``FrameConstructionError`` when a control frame is fragmented or its payload exceeds 125 bytes.
  public init(
    fin: Bool, frameType: FrameType, data: [UInt8], rsv1: Bool = false, rsv2: Bool = false, rsv3: Bool = false
  ) throws(FrameConstructionError) {
    if frameType.isControl {
      guard fin else { throw .fragmentedControlFrame(frameType) }
      guard data.count <= Self.maxControlPayload else {
        throw .controlPayloadTooLong(frameType, size: data.count)
      }
    }
    self.init(unchecked: fin, frameType, data, rsv1, rsv2, rsv3)
  }

  /// Creates a frame whose invariants the caller has already established.
  @usableFromInline init(
    unchecked fin: Bool, _ frameType: FrameType, _ data: [UInt8], _ rsv1: Bool = false, _ rsv2: Bool = false,
    _ rsv3: Bool = false
  ) {
    self.fin = fin
    self.frameType = frameType
    self.data = data
    self.rsv1 = rsv1
    self.rsv2 = rsv2
    self.rsv3 = rsv3
  }

  /// A text frame with the UTF-8 of `text`; `fin: false` starts or continues a fragmented message.
  public static func text(_ text: String, fin: Bool = true) -> Frame {
    Frame(unchecked: fin, .text, Array(text.utf8))
  }

  /// A text frame from bytes that the caller promises are UTF-8 (or a UTF-8 fragment when `fin` is false).
  public static func text(bytes: [UInt8], fin: Bool = true) -> Frame {
    Frame(unchecked: fin, .text, bytes)
  }

  /// A binary frame; `fin: false` starts or continues a fragmented message.
  public static func binary(_ data: [UInt8], fin: Bool = true) -> Frame {
    Frame(unchecked: fin, .binary, data)
  }

  /// A close frame carrying `reason` (at most 123 bytes of message, which ``CloseReason`` guarantees).
  public static func close(_ reason: CloseReason) -> Frame {
    Frame(unchecked: true, .close, reason.payload)
  }

  /// A close frame without a status code (the peer sees 1005, "no status").
  public static func close() -> Frame {
    Frame(unchecked: true, .close, [])
  }

  /// A ping frame. - Throws: ``FrameConstructionError/controlPayloadTooLong(_:size:)`` above 125 bytes.
  public static func ping(_ data: [UInt8] = []) throws(FrameConstructionError) -> Frame {
    try Frame(fin: true, frameType: .ping, data: data)
  }

  /// A pong frame. - Throws: ``FrameConstructionError/controlPayloadTooLong(_:size:)`` above 125 bytes.
  public static func pong(_ data: [UInt8] = []) throws(FrameConstructionError) -> Frame {
    try Frame(fin: true, frameType: .pong, data: data)
  }

  /// The payload as text. Works only on a final frame, as in Ktor (a fragment may end inside a code point).
  ///
  /// - Throws: ``FrameConstructionError/notFinal`` for a fragment, `FrameConstructionError/notText` for
  ///   another type, ``FrameConstructionError/invalidUTF8`` when the payload is not UTF-8.
  public func readText() throws(FrameConstructionError) -> String {
    guard frameType == .text else { throw .notText(frameType) }
    guard fin else { throw .notFinal }
    guard let text = String(validating: data, as: UTF8.self) else { throw .invalidUTF8 }
    return text
  }

  /// The payload bytes.
  public func readBytes() -> [UInt8] { data }

  /// The close reason of a close frame; `nil` when this is not a close frame or its payload is under 2 bytes.
  public func readReason() -> CloseReason? {
    guard frameType == .close, data.count >= 2 else { return nil }
    let code = CloseReason.Code(rawValue: UInt16(data[0]) << 8 | UInt16(data[1]))
    return CloseReason(code: code, message: String(decoding: data[2...], as: UTF8.self))
  }

  /// The RSV bits as they sit in the first header byte (`0x40`, `0x20`, `0x10`).
  @inlinable public var reservedBits: UInt8 {
    (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0)
  }

  /// The same frame with other RSV bits, for extensions that transform frames.
  public func with(data: [UInt8], rsv1: Bool, rsv2: Bool? = nil, rsv3: Bool? = nil) -> Frame {
    Frame(unchecked: fin, frameType, data, rsv1, rsv2 ?? self.rsv2, rsv3 ?? self.rsv3)
  }

  /// `"Frame text (fin=true, 5 bytes)"`, for logs.
  public var description: String {
    "Frame \(frameType) (fin=\(fin), \(data.count) bytes\(reservedBits == 0 ? "" : ", rsv=\(reservedBits >> 4)"))"
  }
}

/// A caller asked for a frame that RFC 6455 does not allow, or read a frame the wrong way.
///
/// These are programmer errors (caller misuse), kept apart from ``ProtocolViolation`` (the peer's fault).
public enum FrameConstructionError: Error, Sendable, Hashable, CustomStringConvertible {
  /// A control frame with more than 125 bytes of payload (RFC 6455 section 5.5).
  case controlPayloadTooLong(FrameType, size: Int)
  /// A control frame with `fin == false` (RFC 6455 section 5.5: control frames "MUST NOT be fragmented").
  case fragmentedControlFrame(FrameType)
  /// `readText()` on a frame that is not final.
  case notFinal
  /// `readText()` on a frame that is not text.
  case notText(FrameType)
  /// `readText()` on a payload that is not valid UTF-8.
  case invalidUTF8

  /// A sentence that says what went wrong.
  public var description: String {
    switch self {
    case .controlPayloadTooLong(let type, let size):
      "a \(type) frame carries at most 125 bytes of payload, got \(size) (RFC 6455 section 5.5)"
    case .fragmentedControlFrame(let type): "a \(type) frame cannot be fragmented (RFC 6455 section 5.5)"
    case .notFinal: "readText() needs a final frame; a fragment may end inside a character"
    case .notText(let type): "readText() needs a text frame, this is a \(type) frame"
    case .invalidUTF8: "the frame's payload is not valid UTF-8"
    }
  }
}
