// What the application sends: encoding into the output, batched writes, `flush`, backpressure.
extension WebSocketConnection {
  // MARK: Sending

  /// Sends a frame: it is encoded at once and written with the other frames sent in the same turn of the event
  /// loop (one system call for a batch of answers); when 64 KiB are queued the call writes and waits for the
  /// socket until the transport holds less than its high-water mark (256 KiB for sockets), so a fast sender is
  /// slowed to the peer's pace with a bounded amount queued. ``flush()`` waits until everything is written.
  ///
  /// - Throws: ``ConnectionClosedError`` after the end; ``ConnectionUsageError`` for frames RFC 6455 forbids now;
  ///   the transport's error.
  public func send(_ frame: Frame) async throws {
    if try enqueueOutgoing(frame) { try await writeQueuedOutput() }
  }

  /// The backpressure of ``send(_:)`` once 64 KiB are queued: hands the output to the transport, which makes the
  /// caller wait until less than its high-water mark is left (256 KiB for sockets). Unlike ``flush()``, it does not
  /// wait for the last byte: a sender of a large message goes on while the socket takes the rest.
  @usableFromInline
  func writeQueuedOutput() async throws {
    try await drainOutput(waitingForTransport: false)
  }

  /// Queues `frame` when the caller runs on the connection's event loop thread (see
  /// ``takeQueuedFrameOnExecutorThread()``): `true` when the caller must then write (64 KiB are queued), `false`
  /// when it is done, `nil` when the caller is elsewhere (it then awaits ``send(_:)``).
  @usableFromInline
  nonisolated func sendOnExecutorThread(_ frame: Frame) throws -> Bool? {
    guard transport.isExecutorThread else { return nil }
    return try callIsolated({ connection, frame in try connection.enqueueOutgoing(frame) }, frame)
  }

  /// Encodes `frame` into the output and schedules the batch's write; returns whether the caller must write now
  /// (64 KiB are queued).
  func enqueueOutgoing(_ frame: Frame) throws -> Bool {
    if lifecycle.hasEnded() { throw closedError() }
    do {
      try machine.send(frame)
    } catch {
      // The connection is ending (the peer's EOF or our close is being processed) but the session's end is not
      // recorded yet: the same answer as a moment later, not a usage error.
      if case .alreadyClosed = error { throw closedError() }
      throw error
    }
    if frame.frameType == .close { closeWentOut() }
    trafficCounts.sent(frame)
    var mustFlush = machine.outputCount >= Self.coalescingLimit
    if writer.countsFrames { mustFlush = try countOutgoingFrame(frame) }
    if !mustFlush { scheduleFlush() }
    if frame.fin, !frame.frameType.isControl {
      inbox.applicationAnswered()
      if lifecycle.deferredEnd() != nil, inbox.count() == 0 { applicationAnsweredBeforeClose() }
    }
    return mustFlush
  }

  /// Counts a frame queued when the outgoing queue has a capacity (``SessionSettings/outgoingCapacity``); returns
  /// whether the sender writes and waits now (with `suspend`: the queue is full; the 64 KiB rule does not apply, the
  /// capacity replaces it). Beyond the capacity with the
  /// `close` policy (Ktor's `ChannelOverflow.CLOSE`) the session closes with 1008 behind what is queued and the send
  /// fails with ``ChannelOverflowException`` (the frame that crossed the capacity is the last one queued).
  @inline(never)
  func countOutgoingFrame(_ frame: Frame) throws -> Bool {
    let limit = policy.outgoingLimit
    writer.pendingFrames &+= 1
    // With `suspend` the sender writes and waits once the queue is full. With `close` (Ktor's `trySend` into a
    // bounded channel, whose writer runs beside the sender) the full queue goes to the transport while the
    // transport keeps up (it holds less than 64 KiB): a burst sent in one turn of the loop is not an overflow; a
    // peer that does not read leaves the queue full, and the next frame fails.
    guard limit.overflow == .fail else { return writer.pendingFrames >= limit.capacity }
    if writer.pendingFrames == limit.capacity { return transport.queuedOutputCount < Self.coalescingLimit }
    guard writer.pendingFrames > limit.capacity, frame.frameType != .close else { return false }
    if machine.close(CloseReason(.violatedPolicy, "Outgoing channel overflow")) {
      closeWentOut()
      scheduleFlush()
    }
    throw ChannelOverflowException(capacity: Int(limit.capacity))
  }

  /// The application answered the last message before the peer's close: the close reply can go now (in a task of
  /// its own, so that this send does not wait for the end of the closing handshake). Out of line, as
  /// `closeWentOut()`: a task's types are resilient.
  @inline(never)
  func applicationAnsweredBeforeClose() {
    Task(executorPreference: transport.taskExecutor) { await self.completeDeferredEnd() }
  }

  /// Bytes queued before ``send(_:)`` writes at once and waits for the socket: 64 KiB. Below it, frames sent in
  /// the same turn of the event loop (the answers to a batch of messages) go out together in one write.
  static let coalescingLimit = 64 * 1024

  /// Writes what is queued once the current jobs of the executor have run (the end of this batch), unless a
  /// write is already in progress (the writer drains the queue) or scheduled.
  func scheduleFlush() {
    guard writer.phase == .idle, machine.checkHasOutput(), !lifecycle.hasEnded() else { return }
    writer.phase = .scheduled
    if !writer.sourceInstalled { installWriteSource() }
    // The transport pulls the batch at the end of its executor's turn (`takeBatchForTransport`): no task.
    transport.requestWrite()
  }

  /// Hands the transport the session's write source (once: when reading starts, or at the first send before it).
  @inline(never)
  func installWriteSource() {
    guard !writer.sourceInstalled else { return }
    writer.sourceInstalled = true
    transport.setWriteSource { [self] in
      self.assertOnTransportExecutor()
      return self.callIsolated({ connection, _ in connection.takeBatchForTransport() }, ())
    }
  }

  /// The transport's write source: the next piece of the batch (a large payload by reference, then the
  /// buffer), or `nil` when nothing is queued or a task of the connection is writing (it drains the queue itself).
  func takeBatchForTransport() -> [UInt8]? {
    if writer.isWriting() || lifecycle.hasEnded() { return nil }
    writer.phase = .idle
    if let chunk = machine.takeQueuedChunk() { return chunk }
    guard machine.checkHasOutput() else { return nil }
    machine.takeOutput(into: &writer.spareOutput)
    writer.pendingFrames = 0
    return writer.spareOutput
  }

  /// Writes whatever is queued (frames sent, pongs, close frames) and returns once it is written (Ktor's `flush`).
  /// Ktor: it "could be called at any time even after close" and "may return immediately if connection is
  /// already terminated": after the end it returns at once.
  ///
  /// - Throws: the transport's error while writing.
  public func flush() async throws {
    if lifecycle.hasEnded() { return }
    try await drainOutput(waitingForTransport: true)
  }

  /// One task writes at a time (a transport takes one write at a time): a caller that finds a write in progress
  /// waits for the writer, which keeps writing until the queue is empty.
  func drainOutput(waitingForTransport: Bool) async throws {
    guard !lifecycle.hasEnded() else { return }
    if writer.isWriting() {
      guard machine.checkHasOutput() || waitingForTransport else { return }
      // When the writer finished before this caller could join it, the caller writes (and flushes) itself.
      if try await !waitForWriter() { try await drainOutput(waitingForTransport: waitingForTransport) }
      return
    }
    guard machine.checkHasOutput() || waitingForTransport else { return }
    writer.phase = .writing
    var failure: (any Error)?
    do {
      while machine.checkHasOutput(), !lifecycle.hasEnded() {
        if let chunk = machine.takeQueuedChunk() {
          // A large payload, by reference: no copy on the way to the socket.
          try await transport.write(chunk)
          continue
        }
        // Swap buffers with the machine: the spare one keeps its capacity, so steady writes allocate nothing.
        machine.takeOutput(into: &writer.spareOutput)
        writer.pendingFrames = 0
        try await transport.write(writer.spareOutput)
      }
      // Waiters may need the bytes on the socket: a waiting flush, or a waiter that joined this writer.
      if (waitingForTransport || writer.hasWaiters()) && !lifecycle.hasEnded() { try await transport.flush() }
    } catch {
      failure = error
    }
    writer.phase = .idle
    // Frames sent while this writer waited for the transport's flush found it writing and were left to it: they go
    // out with the next batch instead of waiting for another send.
    if failure == nil { scheduleFlush() }
    for waiter in writer.takeWaiters() {
      if let failure {
        waiter.resume(throwing: failure)
      } else {
        waiter.resume(returning: true)
      }
    }
    if let failure { throw failure }
  }

  /// Waits for the task that is writing; a cancelled caller stops waiting (the writer goes on). Returns `false`
  /// when there was no writer any more by the time the wait began.
  func waitForWriter() async throws -> Bool {
    let id = writer.makeWaiterID()
    return try await withTaskCancellationHandler {
      try await waitOnTransportExecutor {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
          if Task.isCancelled {
            continuation.resume(throwing: CancellationError())
          } else if !writer.isWriting() {
            continuation.resume(returning: false)
          } else {
            writer.addWaiter(id, continuation)
          }
        }
      }
    } onCancel: {
      Task { await self.cancelWriteWaiter(id) }
    }
  }

  func cancelWriteWaiter(_ id: UInt64) {
    writer.removeWaiter(id)?.resume(throwing: CancellationError())
  }
}
