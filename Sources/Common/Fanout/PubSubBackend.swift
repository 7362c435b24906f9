/// Carries published messages between the ``Topics`` of several server processes (or several hubs of one process),
/// so that a message published in one reaches the subscribers of the same topic in all. ``Topics`` always delivers
/// to its own subscribers directly; the backend carries each message to the others only.
///
/// Implementations: ``InProcessPubSub`` (hubs of one process) and the platform's Redis backend (`RedisPubSub`).
/// Every method but ``shutdown()`` is called without waiting and must not wait: publishing never blocks the
/// WebSocket side, whatever the backend's state.
public protocol PubSubBackend: AnyObject, Sendable {
  /// Called once, by the ``Topics`` that uses the backend, before any other call: where messages from other hubs
  /// and the backend's events go.
  func attach(_ sink: any PubSubSink)
  /// The hub has its first local subscriber of `topic`: deliver the topic's messages from now on.
  func subscribe(_ topic: String)
  /// The hub's last local subscriber of `topic` has gone.
  func unsubscribe(_ topic: String)
  /// Carries `message` to the other hubs; in the order of the calls (per-publisher order).
  ///
  /// - Throws: ``PubSubError`` when the message cannot be carried or buffered within the backend's bound (the
  ///   local subscribers have it already).
  func publish(_ message: TopicMessage, to topic: String) throws(PubSubError)
  /// Stops: closes connections, ends the events. Bounded.
  func shutdown() async
}

/// Where a ``PubSubBackend`` delivers (``Topics`` is one).
public protocol PubSubSink: AnyObject, Sendable {
  /// A message another hub published to `topic`.
  func deliver(_ message: TopicMessage, to topic: String)
  /// A message of `topic` at `offset`, from a ``TopicHistoryBackend`` (published by any hub, this one included):
  /// in the topic's order. `token`: the one this hub gave ``TopicHistoryBackend/append(_:to:token:confirmed:)``,
  /// when it published the message.
  func deliver(_ message: TopicMessage, to topic: String, at offset: TopicOffset, token: UInt64?)
  /// A ``TopicHistoryBackend``'s live feed of a topic skipped messages that the history no longer holds.
  func historyGap(_ gap: TopicGap)
  /// Something the application should know about the backend (``PubSubEvent``).
  func backendEvent(_ event: PubSubEvent)
}

/// What a backend tells the application (``Topics/events``).
public enum PubSubEvent: Sendable, Equatable, CustomStringConvertible {
  /// Connected (or connected again) and subscribed to every topic.
  case connected
  /// The connection to the backend was lost (or could not be made), with why; the backend reconnects with
  /// backoff. Messages published meanwhile are buffered within the backend's bound.
  case disconnected(PubSubError)
  /// Connected again after a loss: messages other processes published during `window` may not have reached this
  /// one, and `unconfirmedOutgoing` of ours had been written but not acknowledged when the connection was lost (they
  /// may or may not have reached the others).
  case reconnected(window: Duration, unconfirmedOutgoing: Int)
  /// Sequence numbers from another process skipped `count` messages (lost while either side was disconnected).
  case messagesMissed(publisher: String, count: Int)
  /// A topic's messages that this hub's subscribers can never get (the history no longer held them when the hub
  /// came back, or it was lost); subscribers with ``TopicFraming/offsetPrefixed`` framing are told in-band too.
  case historyGap(TopicGap)

  /// A sentence for logs.
  public var description: String {
    switch self {
    case .connected: "connected"
    case .disconnected(let error): "disconnected: \(error)"
    case .reconnected(let window, let unconfirmed):
      "reconnected after \(window); messages from other processes in that window may be lost, "
        + "\(unconfirmed) of ours were unconfirmed"
    case .messagesMissed(let publisher, let count): "\(count) messages from \(publisher) never arrived"
    case .historyGap(let gap): "history gap: \(gap)"
    }
  }
}

/// Why a backend could not carry a message, or lost its connection.
public enum PubSubError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Not connected, and the bounded buffer for messages published meanwhile is full (`limit` bytes): the message
  /// reached this process's subscribers only.
  case bufferFull(limit: Int)
  /// The backend could not be reached or closed the connection.
  case unavailable(String)
  /// The backend answered something that is not its protocol (a garbled or unexpected reply).
  case protocolViolation(String)
  /// The backend did not answer within `limit` (`operation`: connect, a command, a health check).
  case timedOut(operation: String, limit: Duration)
  /// The backend refused a command (an error reply, such as a failed AUTH).
  case refused(String)
  /// The backend has been shut down.
  case shutDown

  /// A sentence for logs.
  public var description: String {
    switch self {
    case .bufferFull(let limit): "pub/sub backend unavailable and its buffer of \(limit) bytes is full"
    case .unavailable(let why): "pub/sub backend unavailable: \(why)"
    case .protocolViolation(let what): "pub/sub backend protocol violation: \(what)"
    case .timedOut(let operation, let limit): "pub/sub backend timed out (\(operation), \(limit))"
    case .refused(let what): "pub/sub backend refused: \(what)"
    case .shutDown: "pub/sub backend shut down"
    }
  }
}
