/// The callers of ``WebSocketConnection/ping(_:timeout:)`` and what each gets: the round trip, or the error. Which
/// ping a pong answers, its round trip and its deadline are the ``SessionPolicy``'s (the one place that tracks
/// pings); this only hands the outcome to the caller, whether it arrives before the caller waits or after.
struct PingWaiters {
  private enum Entry {
    /// No outcome yet; the caller's continuation once it waits.
    case waiting(CheckedContinuation<Duration, any Error>?)
    /// The outcome arrived before the caller waited.
    case resolved(Result<Duration, any Error>)
  }

  private var entries: [(id: UInt64, entry: Entry)] = []

  /// A caller's ping `id` went out: its outcome is expected.
  mutating func expect(_ id: UInt64) {
    entries.append((id, .waiting(nil)))
  }

  /// The outcome of ping `id`: resumes its caller, or keeps the outcome until it waits.
  mutating func resolve(_ id: UInt64, with outcome: Result<Duration, any Error>) {
    guard let index = entries.firstIndex(where: { $0.id == id }) else { return }
    if case .waiting(let continuation?) = entries[index].entry {
      entries.remove(at: index)
      continuation.resume(with: outcome)
    } else {
      entries[index].entry = .resolved(outcome)
    }
  }

  /// Waits for ping `id`'s outcome (at once when it is known).
  mutating func wait(for id: UInt64, _ continuation: CheckedContinuation<Duration, any Error>) {
    guard let index = entries.firstIndex(where: { $0.id == id }) else {
      continuation.resume(throwing: ConnectionUsageError.alreadyClosed)
      return
    }
    switch entries[index].entry {
    case .waiting:
      entries[index].entry = .waiting(continuation)
    case .resolved(let outcome):
      entries.remove(at: index)
      continuation.resume(with: outcome)
    }
  }

  /// Ping `id` waits for nothing any more (its frame could not be sent).
  mutating func forget(_ id: UInt64) {
    entries.removeAll { $0.id == id }
  }

  /// The session ended: every caller gets `error`.
  mutating func failAll(with error: any Error) {
    for (_, entry) in entries {
      if case .waiting(let continuation?) = entry { continuation.resume(throwing: error) }
    }
    entries.removeAll()
  }
}
