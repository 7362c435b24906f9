/// How a ``ReconnectingWebSocket`` learns the offset of each topic's last message from what it receives, so that
/// the next connection can ask the server to resume there (for example `?since=` with `ws serve --history`).
public struct TopicOffsetTracking: Sendable {
  /// What a received frame says: a message of `topic` at `offset`, or a gap after which the topic continues at
  /// `offset + 1`; `nil` for frames that carry no offset.
  public var read: @Sendable (Frame) -> (topic: String, offset: TopicOffset)?

  /// Tracking with `read`.
  public init(read: @escaping @Sendable (Frame) -> (topic: String, offset: TopicOffset)?) {
    self.read = read
  }

  /// Frames in ``TopicFraming/offsetPrefixed`` framing, all of one topic (a `ws serve` room is one connection per
  /// topic): a message's offset, or after a gap notice the position before the one delivery resumes at.
  public static func offsetPrefixed(topic: String) -> TopicOffsetTracking {
    TopicOffsetTracking { frame in
      switch TopicFraming.parse(frame) {
      case .message(let offset, _): (topic, offset)
      case .gap(_, let resumesAt):
        (topic, TopicOffset(epoch: resumesAt.epoch, position: resumesAt.position == 0 ? 0 : resumesAt.position - 1))
      case nil: nil
      }
    }
  }
}
