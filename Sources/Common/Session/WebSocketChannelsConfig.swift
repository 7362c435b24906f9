/// What a full frame queue does (Ktor's `ChannelOverflow`).
public enum ChannelOverflow: Sendable, Hashable {
  /// The writer waits: reading stops until the application takes frames (incoming), a send waits for the
  /// transport (outgoing).
  case suspend
  /// The queue closes: the session fails and closes with 1008 (incoming: "Incoming channel overflow"; outgoing:
  /// the send throws ``ChannelOverflowException``).
  case close

  init(_ overflow: WebSocketConnection.Options.Overflow) {
    self = overflow == .suspend ? .suspend : .close
  }

  var overflow: WebSocketConnection.Options.Overflow { self == .suspend ? .suspend : .fail }
}

/// One frame queue's capacity and overflow (Ktor's `ChannelConfig`).
public struct ChannelConfig: Sendable, Hashable {
  /// Frames (incoming, default sessions: whole messages) the queue holds; `Int.max` for no count.
  public let capacity: Int
  /// What happens beyond ``capacity``.
  public let onOverflow: ChannelOverflow

  /// A queue of `capacity` frames (at least 1) that does `onOverflow` when full.
  public init(capacity: Int, onOverflow: ChannelOverflow = .suspend) {
    self.capacity = max(1, capacity)
    self.onOverflow = onOverflow
  }

  /// Whether a full queue makes the writer wait (Ktor's `canSuspend`).
  public var canSuspend: Bool { onOverflow == .suspend && capacity != .max }

  /// No count (Ktor's `ChannelConfig.UNLIMITED`). The incoming queue is never unbounded in memory by default
  /// here: see ``WebSocketChannelsConfig``.
  public static let unlimited = ChannelConfig(capacity: .max, onOverflow: .suspend)
}

/// The incoming and outgoing frame queues of a session (Ktor 3's `WebSocketChannelsConfig`, set in the plugins
/// with `config.channels { $0.incoming = $0.bounded(capacity: 64, onOverflow: .close) }`).
///
/// Defaults differ from Ktor's (both unlimited there): incoming holds 64 messages and then suspends reading, so a
/// peer cannot grow a session that does not read without bound; outgoing has no frame count, but a sender waits
/// past 64 KiB queued and the transport's high-water mark.
public struct WebSocketChannelsConfig: Sendable, Hashable {
  /// The queue of received frames (``SessionSettings/incomingCapacity``, ``SessionSettings/incomingOverflow``).
  public var incoming: ChannelConfig
  /// The queue of frames sent and not yet taken by the transport (``SessionSettings/outgoingCapacity``,
  /// ``SessionSettings/outgoingOverflow``).
  public var outgoing: ChannelConfig

  /// Both queues.
  public init(incoming: ChannelConfig, outgoing: ChannelConfig) {
    self.incoming = incoming
    self.outgoing = outgoing
  }

  /// A queue without a count (Ktor's `unlimited()`).
  public func unlimited() -> ChannelConfig { .unlimited }

  /// A queue of `capacity` frames (Ktor's `bounded(capacity, onOverflow)`).
  public func bounded(capacity: Int, onOverflow: ChannelOverflow = .suspend) -> ChannelConfig {
    ChannelConfig(capacity: capacity, onOverflow: onOverflow)
  }
}

/// A send crossed the outgoing queue's capacity with ``ChannelOverflow/close`` (Ktor's `ChannelOverflowException`):
/// the session closes with 1008 behind what is queued (that frame included); later sends fail as after any end.
public struct ChannelOverflowException: Error, Sendable, Hashable, CustomStringConvertible {
  /// The queue's capacity, in frames.
  public let capacity: Int

  /// The error for a queue of `capacity` frames.
  public init(capacity: Int) { self.capacity = capacity }

  /// A sentence.
  public var description: String { "Channel overflowed: more than \(capacity) outgoing frames were waiting" }
}
