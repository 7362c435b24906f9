/// How a subscriber's messages carry their offsets on the wire (``SubscriberOptions/framing``).
///
/// A client that wants to resume after a disconnection must know the offset of the last message it got; with
/// ``offsetPrefixed`` each message says it. The convention (also `ws serve`'s with `?since=`):
///
/// - a message: the same frame type, its payload preceded by the offset's text form and one space:
///   `f3a91c07d2b84e61:42 hello`;
/// - a gap (``TopicGap``): a text frame `!gap LASTSEEN RESUMESAT`, for example
///   `!gap f3a91c07d2b84e61:42 f3a91c07d2b84e61:97` (offsets never start with `!`).
///
/// ``parse(_:)`` reads both.
public enum TopicFraming: Sendable, Hashable {
  /// The message as published (default): no offsets on the wire.
  case plain
  /// Each message preceded by its offset; gaps announced in-band.
  case offsetPrefixed

  /// What a frame in ``offsetPrefixed`` framing says.
  public enum Parsed: Sendable, Hashable {
    /// A message and its offset.
    case message(TopicOffset, TopicMessage)
    /// Messages after `lastSeen` and before `resumesAt` can never be delivered.
    case gap(lastSeen: TopicOffset, resumesAt: TopicOffset)
  }

  /// Reads a frame sent with ``offsetPrefixed``; `nil` when it is not in that form.
  public static func parse(_ frame: Frame) -> Parsed? {
    guard frame.fin, frame.frameType == .text || frame.frameType == .binary else { return nil }
    let bytes = frame.data
    if frame.frameType == .text, bytes.starts(with: gapPrefix) {
      let fields = String(decoding: bytes[gapPrefix.count...], as: UTF8.self).split(separator: " ")
      guard fields.count == 2, let last = TopicOffset(String(fields[0])), let next = TopicOffset(String(fields[1]))
      else { return nil }
      return .gap(lastSeen: last, resumesAt: next)
    }
    guard let space = bytes.prefix(96).firstIndex(of: 32),
      let offset = TopicOffset(String(decoding: bytes[..<space], as: UTF8.self))
    else { return nil }
    return .message(offset, TopicMessage(type: frame.frameType, payload: Array(bytes[(space + 1)...])))
  }

  static let gapPrefix = Array("!gap ".utf8)

  /// The payload of `message` at `offset` in this framing.
  func payload(of message: TopicMessage, at offset: TopicOffset) -> [UInt8] {
    switch self {
    case .plain: return message.payload
    case .offsetPrefixed:
      var bytes = Array(offset.description.utf8)
      bytes.reserveCapacity(bytes.count + 1 + message.payload.count)
      bytes.append(32)
      bytes.append(contentsOf: message.payload)
      return bytes
    }
  }

  /// The in-band notice of `gap` (``offsetPrefixed`` only).
  static func notice(of gap: TopicGap) -> TopicMessage {
    .text("!gap \(gap.lastSeen) \(gap.resumesAt)")
  }
}
