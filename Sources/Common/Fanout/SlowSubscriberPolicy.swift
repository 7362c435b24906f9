/// What a topic does with a message for a subscriber whose outgoing queue is full (``SubscriberOptions/queueLimit``).
///
/// A topic never waits for a subscriber: publishing hands every subscriber its message at once, and a subscriber
/// that does not keep up meets its policy instead of delaying the publisher or the other subscribers.
public enum SlowSubscriberPolicy: Sendable, Hashable {
  /// Discards the message that does not fit; the queue keeps the older ones (a feed where the first messages
  /// matter, such as a log).
  case dropNewest
  /// Discards the oldest queued messages until the new one fits (a dashboard or a game state, where only the
  /// latest values matter).
  case dropOldest
  /// Closes the session with `reason` and unsubscribes it from every topic (a chat, where a gap is worse than a
  /// reconnect). See ``closePolicyViolation`` (1008) and ``closeTryAgainLater`` (1013).
  case close(CloseReason)

  /// Closes with 1008 (policy violation): "an endpoint is terminating the connection because it has received a
  /// message that violates its policy" (RFC 6455 section 7.4.1); here, it did not read its messages.
  public static let closePolicyViolation = SlowSubscriberPolicy.close(
    CloseReason(.policyViolation, "subscriber too slow"))
  /// Closes with 1013 (try again later, IANA registry): the client may reconnect after a while.
  public static let closeTryAgainLater = SlowSubscriberPolicy.close(CloseReason(.tryAgainLater, "subscriber too slow"))
}

/// How one subscriber's outgoing queue is bounded.
public struct SubscriberOptions: Sendable, Hashable {
  /// The most bytes of payload queued for the subscriber and not yet handed to its connection. Default 1 MiB:
  /// about 16,000 messages of 64 B, or a few seconds of a busy feed. The connection itself holds at most 64 KiB
  /// more and its socket the kernel's buffer, so a subscriber costs at most this plus a constant.
  public var queueLimit: Int
  /// What happens to a message that does not fit. Default ``SlowSubscriberPolicy/dropOldest``.
  public var policy: SlowSubscriberPolicy
  /// Whether messages carry their offsets on the wire (``TopicFraming``). Default ``TopicFraming/plain``; a client
  /// that resumes needs ``TopicFraming/offsetPrefixed``.
  public var framing: TopicFraming

  /// Creates options; a negative limit is treated as zero (every message meets the policy unless the queue is
  /// empty: one message always fits an empty queue, so a subscriber is never starved by its own limit).
  public init(
    queueLimit: Int = 1024 * 1024, policy: SlowSubscriberPolicy = .dropOldest, framing: TopicFraming = .plain
  ) {
    self.queueLimit = max(0, queueLimit)
    self.policy = policy
    self.framing = framing
  }
}
