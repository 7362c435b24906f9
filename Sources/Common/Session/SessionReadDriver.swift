/// How bytes reach a session: one path, ``WebSocketConnection``'s handler for what arrives, which every
/// ``Transport`` calls on its executor (a socket from the event loop, TLS with what it decrypted, the test host's
/// pipe with what the other end wrote).
///
/// Reading pauses while the inbox is full (backpressure) or while a task of the session handles events that must
/// wait (a close reply, a failure), and resumes when neither holds. It stops for good at EOF, a read error or the
/// end of the session.
struct SessionReadDriver {
  /// Where reading stands.
  enum Source {
    /// Not reading yet: the session reads once the application receives, closes or starts it.
    case notStarted
    /// Reading; `handlerInstalled` once ``Transport/startReading(_:directReader:)`` was called (later resumptions
    /// use ``Transport/resumeReading()``).
    case push(handlerInstalled: Bool)
  }

  var source: Source = .notStarted
  /// The inbox is full and the overflow policy suspends reading.
  var pausedForRoom = false
  /// A task of the session handles events that must wait; reading resumes when it is done.
  var pausedForTask = false
  /// EOF, a read error, or the end of the session: no more reading.
  var finished = false

  /// Whether reading is paused or over.
  mutating func mustWait() -> Bool { pausedForRoom || pausedForTask || finished }

  /// Whether reading has started.
  mutating func hasStarted() -> Bool {
    if case .notStarted = source { return false }
    return true
  }
}
