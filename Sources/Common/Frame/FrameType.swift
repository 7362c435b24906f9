/// The type of a ``Frame`` in the public model: Ktor's `FrameType`.
///
/// A continuation frame on the wire surfaces as a `text` or `binary` frame with `fin == false` (or the final
/// fragment with `fin == true`), exactly as in the reference system.
public enum FrameType: Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// A UTF-8 text message or fragment of one.
  case text
  /// A binary message or fragment of one.
  case binary
  /// A close frame; its payload is an optional ``CloseReason``.
  case close
  /// A ping; the peer must answer with a pong carrying the same payload (RFC 6455 section 5.5.2).
  case ping
  /// A pong; either an answer to a ping or an unsolicited heartbeat (RFC 6455 section 5.5.3).
  case pong

  /// `true` for close, ping and pong: at most 125 bytes of payload, never fragmented (RFC 6455 section 5.5).
  @inlinable public var isControl: Bool {
    switch self {
    case .text, .binary: false
    case .close, .ping, .pong: true
    }
  }

  /// The opcode of the first frame of this type on the wire.
  @inlinable public var opcode: Opcode {
    switch self {
    case .text: .text
    case .binary: .binary
    case .close: .close
    case .ping: .ping
    case .pong: .pong
    }
  }

  /// The frame type of a non-continuation opcode, or `nil` for `continuation`.
  @inlinable public init?(opcode: Opcode) {
    switch opcode {
    case .continuation: return nil
    case .text: self = .text
    case .binary: self = .binary
    case .close: self = .close
    case .ping: self = .ping
    case .pong: self = .pong
    }
  }

  /// A readable name, for logs and error messages.
  public var description: String { opcode.description }
}
