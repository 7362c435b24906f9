/// How much of a topic's history is kept for subscribers that resume (`Topics.subscribe(_:to:from:options:timeout:)`).
/// A message leaves the history when any bound is passed.
public struct TopicHistoryOptions: Sendable, Hashable {
  /// The most messages kept. Default 1,000. With Redis Streams the trim is approximate (`MAXLEN ~`): at least this
  /// many are kept, a few more may be.
  public var maxCount: Int
  /// The oldest message kept, by the time it was appended; `nil` (default): no age limit.
  public var maxAge: Duration?
  /// The most payload bytes kept per topic in memory (the in-memory history only; Redis has its own `maxmemory`).
  /// Default 4 MiB, so that a topic of large messages cannot hold the process's memory.
  public var maxBytes: Int

  /// Options; negative bounds are treated as zero (nothing kept).
  public init(maxCount: Int = 1000, maxAge: Duration? = nil, maxBytes: Int = 4 * 1024 * 1024) {
    self.maxCount = max(0, maxCount)
    self.maxAge = maxAge.map { max(.zero, $0) }
    self.maxBytes = max(0, maxBytes)
  }
}

/// Which topics keep a history, and how much (``Topics/init(backend:defaultOptions:history:)``).
public struct TopicHistoryPolicy: Sendable {
  /// The options of `topic`'s history; `nil`: the topic keeps none (its messages still get offsets, and a resume
  /// is told that nothing could be recovered).
  public var options: @Sendable (String) -> TopicHistoryOptions?
  /// The most topics whose history is kept in memory (the in-memory history only). Beyond it the history of the
  /// topic published to least recently is dropped (its epoch ends: a resume from it is told so). Default 10,000.
  public var maxTopics: Int

  /// Every topic keeps `options`.
  public init(_ options: TopicHistoryOptions = TopicHistoryOptions(), maxTopics: Int = 10_000) {
    self.options = { _ in options }
    self.maxTopics = max(1, maxTopics)
  }

  /// Each topic keeps what `options` says (`nil`: no history).
  public init(maxTopics: Int = 10_000, options: @escaping @Sendable (String) -> TopicHistoryOptions?) {
    self.options = options
    self.maxTopics = max(1, maxTopics)
  }
}
