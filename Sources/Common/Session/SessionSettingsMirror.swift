import Synchronization

/// The settings a default session shows as plain properties (Ktor's mutable `pingIntervalMillis`, `timeoutMillis`,
/// `maxFrameSize`, `masking`): read without waiting, and applied to the connection when set, at once on the
/// connection's event loop thread (a server handler, a client task that prefers the loop), otherwise by a task of
/// the connection that applies the latest values (so setters from several threads converge on the last one).
/// ``WebSocketSession/updateSettings(_:)`` is the form that waits until the change applies.
final class SessionSettingsMirror: Sendable {
  private let settings: Mutex<WebSocketConnection.RuntimeSettings>
  private let connection: WebSocketConnection

  init(connection: WebSocketConnection, initial: WebSocketConnection.RuntimeSettings) {
    self.connection = connection
    self.settings = Mutex(initial)
  }

  /// The values last set (or the initial ones).
  var current: WebSocketConnection.RuntimeSettings { settings.withLock { $0 } }

  /// Changes the values and applies them to the connection.
  func change(_ body: (inout WebSocketConnection.RuntimeSettings) -> Void) {
    let snapshot = settings.withLock { settings in
      body(&settings)
      return settings
    }
    if connection.applyOnExecutorThread(snapshot) { return }
    Task { [self] in
      let latest = current
      await connection.updateSettings { $0 = latest }
    }
  }
}
