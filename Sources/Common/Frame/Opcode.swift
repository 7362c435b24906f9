/// The 4-bit opcode of a frame as it travels on the wire (RFC 6455 section 5.2).
///
/// The public ``Frame`` model has no continuation type (as in Ktor); `Opcode` is the wire-level view used by
/// the codec. Opcodes 0x3-0x7 and 0xB-0xF are reserved and are rejected by the decoder.
public enum Opcode: UInt8, Sendable, Hashable, CustomStringConvertible {
  /// `%x0` denotes a continuation frame.
  case continuation = 0x0
  /// `%x1` denotes a text frame.
  case text = 0x1
  /// `%x2` denotes a binary frame.
  case binary = 0x2
  /// `%x8` denotes a connection close.
  case close = 0x8
  /// `%x9` denotes a ping.
  case ping = 0x9
  /// `%xA` denotes a pong.
  case pong = 0xA

  /// Control frames are identified by opcodes where the most significant bit of the opcode is 1
  /// (RFC 6455 section 5.5).
  @inlinable public var isControl: Bool { rawValue & 0x8 != 0 }

  /// A readable name, for logs and error messages.
  public var description: String {
    switch self {
    case .continuation: "continuation"
    case .text: "text"
    case .binary: "binary"
    case .close: "close"
    case .ping: "ping"
    case .pong: "pong"
    }
  }
}
