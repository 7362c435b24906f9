/// A ``PubSubBackend`` that orders each topic's messages and keeps their history, so that every hub sees the same
/// offsets (Redis Streams: `RedisStreams` in the platform module).
///
/// With such a backend a ``Topics`` hub delivers nothing at publish time: ``PubSubBackend/publish(_:to:)``
/// appends the message, and every hub on the backend, this one included, gets it back through
/// ``PubSubSink/deliver(_:to:at:token:)`` with its offset, in the topic's order, without gaps (a message the hub's live
/// feed missed is read from the history before the next one is delivered; one that is no longer kept is reported
/// with ``PubSubSink/historyGap(_:)``).
public protocol TopicHistoryBackend: PubSubBackend {
  /// The offset of the last message before the hub's live delivery of `topic` starts: every later message
  /// reaches the sink. Waits (within the backend's reply bound) until the hub's subscription to `topic` is live.
  /// Position 0 when the topic has no message yet.
  func liveOffset(of topic: String) async throws(PubSubError) -> TopicOffset
  /// Up to `limit` messages of `topic` after `position`, oldest first, with what the history holds.
  func readHistory(of topic: String, after position: UInt64, limit: Int) async throws(PubSubError) -> TopicHistoryPage
  /// Appends `message` (as ``PubSubBackend/publish(_:to:)``); when it arrives back at this hub,
  /// ``PubSubSink/deliver(_:to:at:token:)`` gives `token` with it (the hub uses it to leave out the sender). `confirmed`, when given, is
  /// called once with the message's offset when the backend has appended it, or with the error when it never will
  /// (shut down). A `nil` offset: the append was a repeat the backend recognized (sent again after a reconnection)
  /// and the first one's offset is not known.
  func append(
    _ message: TopicMessage, to topic: String, token: UInt64?,
    confirmed: (@Sendable (Result<TopicOffset?, PubSubError>) -> Void)?
  ) throws(PubSubError)
}

/// Part of a topic's history (``TopicHistoryBackend/readHistory(of:after:limit:)``).
public struct TopicHistoryPage: Sendable, Hashable {
  /// One kept message.
  public struct Entry: Sendable, Hashable {
    /// Its position in the epoch.
    public var position: UInt64
    /// The message.
    public var message: TopicMessage

    /// An entry.
    public init(position: UInt64, message: TopicMessage) {
      self.position = position
      self.message = message
    }
  }

  /// The history's epoch (empty when the topic has none yet).
  public var epoch: String
  /// The messages after the position asked for, oldest first, at most the limit.
  public var entries: [Entry]
  /// The position of the oldest message kept (``latest`` + 1 when none is).
  public var oldest: UInt64
  /// The position of the newest message when the page was read (0: none yet).
  public var latest: UInt64

  /// A page.
  public init(epoch: String, entries: [Entry], oldest: UInt64, latest: UInt64) {
    self.epoch = epoch
    self.entries = entries
    self.oldest = oldest
    self.latest = latest
  }
}
