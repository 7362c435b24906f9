/// A message published to a topic: a whole text or binary message.
public struct TopicMessage: Sendable, Hashable {
  /// ``FrameType/text`` or ``FrameType/binary``.
  public let type: FrameType
  /// The payload (UTF-8 for text).
  public let payload: [UInt8]

  /// A text message.
  public static func text(_ text: String) -> TopicMessage { TopicMessage(type: .text, payload: Array(text.utf8)) }

  /// A text message from UTF-8 bytes; the caller vouches that they are valid UTF-8 (RFC 6455 section 8.1: a
  /// receiver fails the connection on invalid text).
  public static func text(bytes: [UInt8]) -> TopicMessage { TopicMessage(type: .text, payload: bytes) }

  /// A binary message.
  public static func binary(_ bytes: [UInt8]) -> TopicMessage { TopicMessage(type: .binary, payload: bytes) }

  /// The message of a whole data frame received from a peer (for relaying); `nil` for a control frame or a
  /// fragment.
  public init?(_ frame: Frame) {
    guard frame.fin, frame.frameType == .text || frame.frameType == .binary else { return nil }
    self.init(type: frame.frameType, payload: frame.data)
  }

  init(type: FrameType, payload: [UInt8]) {
    self.type = type
    self.payload = payload
  }

  /// The frame the message goes out as.
  public var frame: Frame { Frame(unchecked: true, type, payload) }
}
