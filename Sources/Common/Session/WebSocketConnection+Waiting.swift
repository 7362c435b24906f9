// Where a waiting task wakes up: on the transport's executor, not on Swift's global pool.
extension WebSocketConnection {
  /// Runs `wait` (a suspension on a continuation that this connection resumes: a write in progress, a pong, the
  /// end) so that the task continues on the transport's executor when it is resumed.
  ///
  /// A continuation resumes its task on the generic executor; for a task without an executor preference (the
  /// server's session task, isolated to this connection; docs/decisions/0011) that is the global pool: a thread
  /// hop, and no wake-up at all while application code blocks every thread of that pool. Such a task prefers the
  /// transport's executor while it waits (docs/decisions/0013). A task that already prefers an executor keeps it.
  func waitOnTransportExecutor<Value, Failure: Error>(
    _ wait: () async throws(Failure) -> Value
  ) async throws(Failure) -> Value {
    if let taskExecutor = transport.taskExecutor, withUnsafeCurrentTask(body: { $0?.unownedTaskExecutor == nil }) {
      return try await withTaskExecutorPreference(taskExecutor) { () async throws(Failure) -> Value in try await wait()
      }
    }
    return try await wait()
  }
}
