/// Runs `body` against a deadline: when `timeout` passes first, `transport` is closed, which fails whatever waits on
/// it. Returns `body`'s result; when `body` throws after the deadline passed, throws
/// ``TransportError/timedOut(operation:limit:)`` naming `operation` instead of the error the close caused.
///
/// The opening handshakes of both roles use it, so that a slow or silent peer cannot hold a connection open.
public func withTransportDeadline<Result>(
  _ transport: any Transport, timeout: Duration, operation: String, _ body: () async throws -> Result
) async throws -> Result {
  let started = ContinuousClock.now
  // On the transport's executor and clock (the event loop and its timers) when it has them: a saturated global
  // pool cannot delay it, and cancelling it releases it at once. A cancelled `Task.sleep` stays queued in the
  // global executor's timers until its deadline, and with it this task and the transport it captures: a burst of
  // short connections held megabytes for the length of the timeout (issue 23, churn).
  let clock = transport.sessionClock ?? SystemSessionClock.shared
  let deadline = clock.now + timeout
  let watchdog = Task(executorPreference: transport.taskExecutor) {
    try await clock.sleep(until: deadline)
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
