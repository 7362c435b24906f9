/// Where writing stands: nothing to write, a batch scheduled for the end of the loop's turn, or a task of the
/// session writing; with the callers waiting for that task.
///
/// Invariant: at most one write is in progress (a transport takes one write at a time). While a task writes, it
/// drains the queue itself, so a scheduled pull by the transport finds nothing to take.
struct SessionWriteState {
  /// The three phases.
  enum Phase {
    /// Nothing scheduled, nobody writing.
    case idle
    /// The output will be written at the end of this turn (the transport pulls it, or a task writes it).
    case scheduled
    /// A task of the session is writing (and drains the queue before it stops).
    case writing
  }

  var phase: Phase = .idle
  /// Whether the transport has the session's write source (``Transport/setWriteSource(_:)``).
  var sourceInstalled = false
  /// Frames sent since the transport last took the output, counted only when the outgoing queue has a capacity
  /// (``SessionSettings/outgoingCapacity``). Beside the flags: no extra word per connection.
  var pendingFrames: Int32 = 0
  /// Whether ``pendingFrames`` is counted (the outgoing queue has a capacity); set when the connection is made.
  var countsFrames = false
  /// The buffer the last write used, handed back to the state machine for the next output (keeps its capacity).
  var spareOutput: [UInt8] = []
  /// Callers waiting for the writing task; resumed with `true` once it has written (and flushed) their bytes.
  private var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, any Error>)] = []
  private var nextWaiterID: UInt64 = 0

  /// Whether a task is writing. Mutating: see `SessionInbox.count()`.
  @inline(__always)
  mutating func isWriting() -> Bool { phase == .writing }

  /// Whether waiters need the bytes on the wire.
  mutating func hasWaiters() -> Bool { !waiters.isEmpty }

  /// An identifier for a new waiter.
  mutating func makeWaiterID() -> UInt64 {
    nextWaiterID += 1
    return nextWaiterID
  }

  mutating func addWaiter(_ id: UInt64, _ continuation: CheckedContinuation<Bool, any Error>) {
    waiters.append((id, continuation))
  }

  /// Removes the waiter `id` (its task was cancelled); `nil` when the writer already resumed it.
  mutating func removeWaiter(_ id: UInt64) -> CheckedContinuation<Bool, any Error>? {
    guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
    return waiters.remove(at: index).continuation
  }

  /// Removes every waiter, for the writer to resume.
  mutating func takeWaiters() -> [CheckedContinuation<Bool, any Error>] {
    defer { waiters.removeAll() }
    return waiters.map(\.continuation)
  }
}
