/// Runs `body` against a deadline: when `timeout` passes first, `transport` is closed, which fails whatever waits on
/// it. Returns `body`'s result; when `body` throws after the deadline passed, throws
/// ``TransportError/timedOut(operation:limit:)`` naming `operation` instead of the error the close caused.
///
/// The opening handshakes of both roles use it, so that a slow or silent peer cannot hold a connection open.
func withTransportDeadline<Result>(
  _ transport: any Transport, timeout: Duration, operation: String, _ body: () async throws -> Result
) async throws -> Result {
  let started = ContinuousClock.now
  // On the transport's executor (the event loop) when it has one, so a saturated global pool cannot delay it.
  let watchdog = Task(executorPreference: transport.taskExecutor) {
    try await Task.sleep(for: timeout)
    await transport.close()
  }
  defer { watchdog.cancel() }
  do {
    return try await body()
  } catch {
    if ContinuousClock.now - started >= timeout {
      throw TransportError.timedOut(operation: operation, limit: timeout)
    }
    throw error
  }
}
