/// The pings that wait for their pong: the callers of ``WebSocketConnection/ping(_:timeout:)`` and the keepalive
/// pings, both on the same path. Their deadlines are the `SessionPolicy`'s; this value matches pongs to pings
/// by payload and holds the callers' continuations.
///
/// A ping is registered before it is sent, so its pong cannot arrive unmatched; a pong that arrives while the
/// caller is still on its way to the wait is kept as the ping's result.
struct PingTracker {
  /// Where one ping stands.
  enum Status {
    /// Waiting for its pong; the caller's continuation once it waits.
    case waiting(CheckedContinuation<Duration, any Error>?)
    /// The pong came back after this round trip, before the caller waited.
    case answered(Duration)
    /// The wait ended with this error before the caller waited.
    case failed(any Error)
  }

  private struct Ping {
    var id: UInt64
    var payload: [UInt8]
    var sentAt: ContinuousClock.Instant
    var keepalive: Bool
    var status: Status
  }

  private var pings: [Ping] = []
  private var nextID: UInt64 = 0

  /// Registers a ping about to be sent; returns its identifier.
  mutating func register(payload: [UInt8], at now: ContinuousClock.Instant, keepalive: Bool) -> UInt64 {
    nextID += 1
    pings.append(Ping(id: nextID, payload: payload, sentAt: now, keepalive: keepalive, status: .waiting(nil)))
    return nextID
  }

  /// A pong arrived: the oldest ping with that payload is answered. Returns its identifier and whether it was a
  /// keepalive ping; `nil` for an unsolicited pong (RFC 6455 section 5.5.3 allows them; "a response to an
  /// unsolicited Pong frame is not expected").
  mutating func pongArrived(
    _ payload: [UInt8], at now: ContinuousClock.Instant
  ) -> (id: UInt64, keepalive: Bool, roundTrip: Duration)? {
    guard let index = pings.firstIndex(where: { $0.payload == payload }) else { return nil }
    let ping = pings[index]
    let roundTrip = ping.sentAt.duration(to: now)
    if case .waiting(let continuation?) = ping.status {
      pings.remove(at: index)
      continuation.resume(returning: roundTrip)
    } else if ping.keepalive {
      pings.remove(at: index)
    } else {
      pings[index].status = .answered(roundTrip)
    }
    return (ping.id, ping.keepalive, roundTrip)
  }

  /// The caller of ping `id` waits: resumes at once when the ping has its outcome already.
  mutating func wait(for id: UInt64, _ continuation: CheckedContinuation<Duration, any Error>) {
    guard let index = pings.firstIndex(where: { $0.id == id }) else {
      continuation.resume(throwing: ConnectionUsageError.alreadyClosed)
      return
    }
    switch pings[index].status {
    case .waiting:
      pings[index].status = .waiting(continuation)
    case .answered(let roundTrip):
      pings.remove(at: index)
      continuation.resume(returning: roundTrip)
    case .failed(let error):
      pings.remove(at: index)
      continuation.resume(throwing: error)
    }
  }

  /// Ends the wait of ping `id` with `error` (its timeout), now or when its caller comes to wait.
  mutating func fail(_ id: UInt64, with error: any Error) {
    guard let index = pings.firstIndex(where: { $0.id == id }) else { return }
    if case .waiting(let continuation?) = pings[index].status {
      pings.remove(at: index)
      continuation.resume(throwing: error)
    } else if pings[index].keepalive {
      pings.remove(at: index)
    } else {
      pings[index].status = .failed(error)
    }
  }

  /// Forgets ping `id` (its send failed; the caller throws that error itself).
  mutating func remove(_ id: UInt64) {
    pings.removeAll { $0.id == id }
  }

  /// The connection ended: every waiting caller gets `error`.
  mutating func failAll(with error: any Error) {
    for index in pings.indices {
      if case .waiting(let continuation?) = pings[index].status { continuation.resume(throwing: error) }
    }
    pings.removeAll()
  }
}
