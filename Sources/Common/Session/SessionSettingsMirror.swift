import Synchronization

/// The settings a default session shows as plain properties (Ktor's mutable `pingIntervalMillis`, `timeoutMillis`,
/// `maxFrameSize`, `masking`), readable without waiting from any thread. Atomics stored inline in the session (no
/// object of their own: every idle connection has a session); durations in nanoseconds, `Int64.min` for none.
struct SessionSettingsMirror: ~Copyable, Sendable {
  private let pingInterval: Atomic<Int64>
  private let pingTimeout: Atomic<Int64>
  private let closeTimeout: Atomic<Int64>
  private let maxFrameSize: Atomic<Int>
  private let masking: Atomic<Bool>

  init(_ initial: WebSocketConnection.RuntimeSettings) {
    pingInterval = Atomic(Self.nanoseconds(initial.pingInterval))
    pingTimeout = Atomic(Self.nanoseconds(initial.pingTimeout))
    closeTimeout = Atomic(Self.nanoseconds(initial.closeTimeout))
    maxFrameSize = Atomic(initial.maxFrameSize)
    masking = Atomic(initial.masking)
  }

  /// The values last set (or the initial ones).
  var current: WebSocketConnection.RuntimeSettings {
    WebSocketConnection.RuntimeSettings(
      pingInterval: Self.duration(pingInterval.load(ordering: .acquiring)),
      pingTimeout: Self.duration(pingTimeout.load(ordering: .acquiring)),
      closeTimeout: Self.duration(closeTimeout.load(ordering: .acquiring)) ?? .zero,
      maxFrameSize: maxFrameSize.load(ordering: .acquiring), masking: masking.load(ordering: .acquiring))
  }

  /// Stores every field of `settings`.
  func store(_ settings: WebSocketConnection.RuntimeSettings) {
    pingInterval.store(Self.nanoseconds(settings.pingInterval), ordering: .releasing)
    pingTimeout.store(Self.nanoseconds(settings.pingTimeout), ordering: .releasing)
    closeTimeout.store(Self.nanoseconds(settings.closeTimeout), ordering: .releasing)
    maxFrameSize.store(settings.maxFrameSize, ordering: .releasing)
    masking.store(settings.masking, ordering: .releasing)
  }

  private static func nanoseconds(_ duration: Duration?) -> Int64 {
    duration.map(SessionPolicy.nanoseconds) ?? Int64.min
  }

  private static func duration(_ nanoseconds: Int64) -> Duration? {
    nanoseconds == Int64.min ? nil : .nanoseconds(nanoseconds)
  }
}

/// A session whose settings are settable properties backed by a `SessionSettingsMirror`.
protocol SettableSessionSettings: WebSocketSession {
  /// The values last set.
  var currentSettings: WebSocketConnection.RuntimeSettings { get }
  /// Stores new values (without applying them).
  func storeSettings(_ settings: WebSocketConnection.RuntimeSettings)
}

extension SettableSessionSettings {
  /// Changes the values and applies them to the connection: at once on the connection's event loop thread (a
  /// server handler, a client task that prefers the loop), otherwise by a task that applies the latest values (so
  /// setters from several threads converge on the last one). ``WebSocketSession/updateSettings(_:)`` is the form
  /// that waits until the change applies.
  func changeSettings(_ body: (inout WebSocketConnection.RuntimeSettings) -> Void) {
    var settings = currentSettings
    body(&settings)
    storeSettings(settings)
    if connection.applyOnExecutorThread(settings) { return }
    Task { [self] in
      let latest = currentSettings
      await connection.updateSettings { $0 = latest }
    }
  }
}
