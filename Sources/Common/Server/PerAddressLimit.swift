import Synchronization

/// Limits per remote IP address, checked before the upgrade (off by default): at most ``maxConnections`` open
/// WebSocket sessions and ``maxHandshakesPerSecond`` upgrade requests a second from one address. A request over
/// either limit is answered `429 Too Many Requests` with `Retry-After: 1`. Clients on a Unix socket have no address
/// and are not limited.
public struct PerAddressLimit: Sendable, Hashable {
  /// Open sessions per address; `nil` for no limit.
  public var maxConnections: Int?
  /// Upgrade requests per address and second (a token bucket that holds one second's worth); `nil` for no limit.
  public var maxHandshakesPerSecond: Int?

  /// Creates the limits; `nil` leaves one off.
  public init(maxConnections: Int? = nil, maxHandshakesPerSecond: Int? = nil) {
    self.maxConnections = maxConnections
    self.maxHandshakesPerSecond = maxHandshakesPerSecond
  }
}

/// The counts behind a ``PerAddressLimit``: open sessions and a token bucket per address. An address with no open
/// session is dropped at its last session's end when there is no rate limit, else by the sweep every 256
/// admissions once a second has passed (its bucket is full again), so the table holds only addresses with sessions
/// open, active in the last second, or seen since the last sweep.
package final class PerAddressTracker: Sendable {
  private struct Entry {
    var open = 0
    var tokens: Double
    var refilled: ContinuousClock.Instant
  }

  private struct Table {
    var entries: [String: Entry] = [:]
    var admissionsSinceSweep = 0
  }

  let limit: PerAddressLimit
  private let table = Mutex(Table())

  package init(_ limit: PerAddressLimit) {
    self.limit = limit
  }

  /// The address part of a peer description (`127.0.0.1:5000`, `[::1]:5000`); `nil` for peers without one.
  package static func address(ofPeer peer: String) -> String? {
    if peer.hasPrefix("[") { return peer.firstIndex(of: "]").map { String(peer[...$0]) } }
    guard let colon = peer.lastIndex(of: ":"), peer[..<colon].contains(".") else { return nil }
    return String(peer[..<colon])
  }

  /// Takes a handshake token and, when admitted, counts a session as open: `nil` when admitted, else why not.
  package func admit(_ address: String, now: ContinuousClock.Instant) -> String? {
    table.withLock { table in
      table.admissionsSinceSweep += 1
      if table.admissionsSinceSweep >= 256 {
        table.admissionsSinceSweep = 0
        table.entries = table.entries.filter { $0.value.open > 0 || now - $0.value.refilled < .seconds(1) }
      }
      let rate = Double(limit.maxHandshakesPerSecond ?? 0)
      var entry = table.entries[address] ?? Entry(tokens: rate, refilled: now)
      if limit.maxHandshakesPerSecond != nil {
        let elapsed = now - entry.refilled
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        entry.tokens = min(rate, entry.tokens + seconds * rate)
        entry.refilled = now
        guard entry.tokens >= 1 else {
          table.entries[address] = entry
          return "more than \(limit.maxHandshakesPerSecond!) upgrade requests a second from \(address)"
        }
        entry.tokens -= 1
      }
      if let maxConnections = limit.maxConnections, entry.open >= maxConnections {
        table.entries[address] = entry
        return "\(address) has \(maxConnections) open sessions already"
      }
      entry.open += 1
      table.entries[address] = entry
      return nil
    }
  }

  /// A session admitted by ``admit(_:now:)`` ended (or was never opened).
  package func release(_ address: String) {
    table.withLock { table in
      guard var entry = table.entries[address] else { return }
      entry.open -= 1
      // Without a rate there is nothing to remember; with one, the bucket must refill first (the sweep drops it).
      if entry.open <= 0 && limit.maxHandshakesPerSecond == nil {
        table.entries[address] = nil
      } else {
        table.entries[address] = entry
      }
    }
  }

  /// Addresses tracked now (for tests: the table must not grow with every address ever seen).
  var trackedCount: Int { table.withLock { $0.entries.count } }
}
