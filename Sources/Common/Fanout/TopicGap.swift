/// Messages a subscriber can never get: the history no longer reaches back to where it stood (trimmed by its
/// bounds), or the history itself was lost (its epoch changed). Reported, never silent: as the result of a resume
/// (``TopicRecovery/gap(_:recovered:)``), on ``Topics/events`` (``PubSubEvent/historyGap(_:)``) when a hub's own
/// live feed jumps, and in-band to subscribers with ``TopicFraming/offsetPrefixed`` framing.
public struct TopicGap: Sendable, Hashable, CustomStringConvertible {
  /// The topic.
  public var topic: String
  /// The last message the subscriber had (position 0: none of that epoch).
  public var lastSeen: TopicOffset
  /// The next message it gets: delivery continues here (the first kept one, or the next to be published).
  public var resumesAt: TopicOffset

  /// A gap.
  public init(topic: String, lastSeen: TopicOffset, resumesAt: TopicOffset) {
    self.topic = topic
    self.lastSeen = lastSeen
    self.resumesAt = resumesAt
  }

  /// Whether the history was lost: everything after ``lastSeen`` in its epoch is gone, and the new epoch's
  /// positions before ``resumesAt`` too.
  public var epochChanged: Bool { lastSeen.epoch != resumesAt.epoch }

  /// The positions lost, when the epoch is the same: after ``lastSeen`` and before ``resumesAt``.
  public var lostPositions: ClosedRange<UInt64>? {
    guard !epochChanged, resumesAt.position > lastSeen.position + 1 else { return nil }
    return (lastSeen.position + 1)...(resumesAt.position - 1)
  }

  /// A sentence for logs.
  public var description: String {
    if let lost = lostPositions {
      return "\(topic): messages \(lost.lowerBound)...\(lost.upperBound) of \(lastSeen.epoch) are no longer kept"
    }
    return "\(topic): the history after \(lastSeen) was lost; delivery continues at \(resumesAt)"
  }
}

/// What `Topics.subscribe(_:to:from:options:timeout:)` could give a subscriber that resumes.
public enum TopicRecovery: Sendable, Equatable, CustomStringConvertible {
  /// Every message after the offset was delivered (`recovered` of them, possibly 0), then live ones follow, with no
  /// gap and no duplicate.
  case recovered(Int)
  /// The history no longer reached back: `recovered` messages after the gap were delivered, then live ones.
  case gap(TopicGap, recovered: Int)
  /// The history could not be read (the backend is unavailable, or the resume did not finish within its bound):
  /// the subscriber gets live messages only, from an unknown point.
  case unavailable(PubSubError)

  /// A sentence for logs.
  public var description: String {
    switch self {
    case .recovered(let count): "recovered \(count) messages"
    case .gap(let gap, let count): "\(gap); recovered \(count) after it"
    case .unavailable(let error): "could not read the history: \(error)"
    }
  }
}
