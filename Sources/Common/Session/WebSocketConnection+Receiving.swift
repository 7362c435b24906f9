// What arrives, to the application: `receive`, the synchronous fast path, the waiting receiver.
extension WebSocketConnection {
  // MARK: Receiving

  /// The next incoming frame (default mode: whole message; raw mode: every frame), or `nil` once the connection
  /// closed normally.
  ///
  /// - Throws: the ``ProtocolViolation`` that failed the connection, the transport's error, or `CancellationError`
  ///   after ``cancel()``.
  public func receive() async throws -> Frame? {
    if let frame = takeQueuedFrame() { return frame }
    // Every message before the peer's close is taken (and answered): now reply to the close.
    if lifecycle.deferredEnd() != nil { await completeDeferredEnd() }
    if try hasEnded() { return nil }
    let frame = try await waitForNextFrame()
    applicationResumed()
    return frame
  }

  /// Whether the stream has ended normally (nothing more to receive); throws the failure that ended it, or
  /// `CancellationError` after ``cancel()``.
  @inline(never)
  private func hasEnded() throws -> Bool {
    if let outcome = lifecycle.outcome() {
      if case .failure(let error) = outcome { throw error }
      return true
    }
    if lifecycle.cancelled { throw CancellationError() }
    return false
  }

  /// Waits for the next frame (or the end). Its frame and those under it stay allocated while a session idles (a
  /// task keeps every allocation slab it has used), so it does only the wait.
  ///
  /// A continuation resumes its task on the generic executor: for a task without an executor preference (the test
  /// host's session task, an application's task; the server's session task prefers its loop, docs/decisions/0030)
  /// that is the global pool, a thread hop on every wake-up, and no wake-up at all while application code blocks
  /// every thread of that pool. Such a task prefers the transport's executor while it waits, so a session keeps
  /// working when the pool is saturated (docs/decisions/0013).
  @inline(never)
  private func waitForNextFrame() async throws -> Frame? {
    if let taskExecutor = taskExecutorToPrefer() { return try await waitForNextFrame(preferring: taskExecutor) }
    return try await withUnsafeThrowingContinuation { continuation in waitForFrame(continuation) }
  }

  /// The transport's executor when the current task has no executor preference.
  @inline(never)
  private func taskExecutorToPrefer() -> (any TaskExecutor)? {
    guard let taskExecutor = transport.taskExecutor,
      withUnsafeCurrentTask(body: { $0?.unownedTaskExecutor == nil })
    else { return nil }
    return taskExecutor
  }

  /// ``waitForNextFrame()`` preferring `taskExecutor` while it waits; out of line, so that the preference's frame and
  /// record are taken only by the tasks that need them.
  @inline(never)
  private func waitForNextFrame(preferring taskExecutor: any TaskExecutor) async throws -> Frame? {
    try await withTaskExecutorPreference(taskExecutor) {
      try await withUnsafeThrowingContinuation { continuation in waitForFrame(continuation) }
    }
  }

  /// After a wait: the application took a frame.
  @inline(never)
  private func applicationResumed() {
    inbox.applicationResumed()
    if lifecycle.deferredEnd() != nil {
      policy.applicationRan(at: clock.now)
      armTimer()
    }
  }

  /// The next queued frame when the caller runs on the connection's event loop thread (an application task that
  /// prefers the loop, or the server's handler); `nil` when there is none or the caller is elsewhere (it then
  /// awaits ``receive()``). Synchronous, so the sessions' `incoming` takes a frame without any executor switch.
  @usableFromInline
  nonisolated func takeQueuedFrameOnExecutorThread() -> Frame? {
    guard transport.isExecutorThread else { return nil }
    return callIsolated({ connection, _ in connection.takeQueuedFrame() }, ())
  }

  /// Starts reading if needed and takes the next queued frame, if any.
  func takeQueuedFrame() -> Frame? {
    if !reader.hasStarted() { startReading() }
    guard let frame = inbox.applicationAsks(offeringTo: &machine) else { return nil }
    frameTaken()
    return frame
  }

  /// A frame left the inbox: reading resumes when it was paused for room.
  @inline(__always)
  func frameTaken() {
    if reader.pausedForRoom, !inbox.isFull() {
      reader.pausedForRoom = false
      resumeReading()
    }
  }

  /// Calls `function` isolated to the connection, synchronously. Only on the executor's thread (``Transport/
  /// isExecutorThread``): the event loop runs one job at a time, so no job of this actor runs meanwhile, which is
  /// what isolation guarantees. What `assumeIsolated` does after its check, without its closure: callers pass a
  /// closure that captures nothing, so no context is allocated and no escape check runs (decision 0009).
  @inline(__always)
  nonisolated func callIsolated<Argument, Result, Failure: Error>(
    _ function: @escaping (isolated WebSocketConnection, Argument) throws(Failure) -> Result,
    _ argument: Argument
  ) throws(Failure) -> Result {
    try unsafeBitCast(function, to: ((WebSocketConnection, Argument) throws(Failure) -> Result).self)(self, argument)
  }

  /// Stores the waiting ``receive()``, or resumes it at once when a frame, the end or a cancellation came first.
  func waitForFrame(_ continuation: UnsafeContinuation<Frame?, any Error>) {
    // Checked again where the continuation is stored: the runtime may switch executors on the way into the
    // continuation, and the connection may run other jobs in that gap (docs/decisions/0008).
    if inbox.count() > 0 {
      continuation.resume(returning: inbox.take(offeringTo: &machine))
      frameTaken()
    } else if let outcome = lifecycle.outcome() {
      switch outcome {
      case .success: continuation.resume(returning: nil)
      case .failure(let error): continuation.resume(throwing: error)
      }
    } else if lifecycle.cancelled {
      continuation.resume(throwing: CancellationError())
    } else {
      inbox.park(continuation)
      if lifecycle.deferredEnd() != nil { Task { await self.completeDeferredEnd() } }
    }
  }

  /// Queues an incoming frame, or hands it to the waiting ``receive()``.
  @inline(__always)
  func deliver(_ frame: consuming Frame) {
    trafficCounts.received(frame)
    inbox.append(frame)
    if let receiver = inbox.takeReceiver() { inbox.handOver(to: receiver, offeringTo: &machine) }
  }
}
