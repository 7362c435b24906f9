/// How bytes reach a session: one path, ``WebSocketConnection``'s handler for what arrives. A
/// ``ReadinessDrivenTransport`` (a socket) calls it from the event loop; any other transport (TLS, memory) is
/// adapted to it by a pump task that awaits ``Transport/read(_:)`` and hands each buffer to the same handler.
///
/// Reading pauses while the inbox is full (backpressure) or while a task of the session handles events that must
/// wait (a close reply, a failure), and resumes when neither holds. It stops for good at EOF, a read error or the
/// end of the session.
struct SessionReadDriver {
  /// Where the bytes come from.
  enum Source {
    /// Not reading yet: the session reads once the application receives, closes or starts it.
    case notStarted
    /// The transport pushes to the handler; `handlerInstalled` once ``ReadinessDrivenTransport/startReading``
    /// was called (later resumptions use ``ReadinessDrivenTransport/resumeReading()``).
    case push(handlerInstalled: Bool)
    /// A pump task reads; `parked` is its continuation while reading is paused.
    case pull(parked: UnsafeContinuation<Void, Never>?)
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

  /// Removes and returns the pump's continuation, if it is parked.
  mutating func takeParkedPump() -> UnsafeContinuation<Void, Never>? {
    guard case .pull(let parked?) = source else { return nil }
    source = .pull(parked: nil)
    return parked
  }
}
