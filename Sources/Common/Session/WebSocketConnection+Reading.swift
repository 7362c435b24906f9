// The one read path: the transport's push handler, and the events that must wait.
extension WebSocketConnection {
  // MARK: Reading

  /// Starts reading (and keepalive pings, when configured). ``receive()``, ``close(_:)`` and ``ping(_:timeout:)``
  /// start it too; a session whose application only sends calls it so that pongs and the peer's close are still
  /// answered, and the end is noticed.
  public func start() {
    if !reader.hasStarted() { startReading() }
  }

  func startReading() {
    policy.started(at: clock.now)
    armTimer()
    // The transport calls the connection when bytes arrive: no reader task to wake (docs/decisions/0008, 0023).
    reader.source = .push(handlerInstalled: false)
    // The write source first: answers queued while the leftover bytes are handled are pulled from it.
    installWriteSource()
    if !leftover.isEmpty {
      let bytes = leftover
      leftover = []
      if !bytes.withUnsafeBytes({ consume(.bytes($0)) }) { return }
    }
    resumeReading()
  }

  /// Checks, in debug builds, that the transport called from its executor: the event loop's thread, or a job of the
  /// transport's serial executor (the test host's pipe).
  nonisolated func assertOnTransportExecutor() {
    #if DEBUG
      if !transport.isExecutorThread { assertIsolated("a transport called off its executor") }
    #endif
  }

  /// Resumes reading unless it is paused or over: the transport calls the handler again.
  func resumeReading() {
    guard !reader.mustWait(), !lifecycle.hasEnded() else { return }
    switch reader.source {
    case .notStarted:
      break
    case .push(handlerInstalled: true):
      transport.resumeReading()
    case .push(handlerInstalled: false):
      reader.source = .push(handlerInstalled: true)
      transport.startReading(
        { [self] event in
          // The transport calls on its executor, which is this actor's.
          self.assertOnTransportExecutor()
          return self.callIsolated({ connection, event in connection.consume(event) }, event)
        },
        directReader: { [self] read in
          self.assertOnTransportExecutor()
          // Asked before every read, and a large payload in progress is rare: asked first without the read function,
          // whose crossing below allocates (90 % of the 64 B echo server's mallocs when it was asked every time).
          guard self.callIsolated({ connection, _ in connection.wantsDirectRead() }, ()) else { return nil }
          // Not through the generic `callIsolated`: a function passed as its generic argument is reabstracted
          // into a heap-allocated context, one allocation per read.
          let function: (isolated WebSocketConnection, (UnsafeMutableRawBufferPointer) -> Int) -> Int? = {
            connection, read in connection.readPayloadDirectly(read)
          }
          return unsafeBitCast(
            function, to: ((WebSocketConnection, (UnsafeMutableRawBufferPointer) -> Int) -> Int?).self)(self, read)
        })
    }
  }

  /// Whether ``readPayloadDirectly(_:)`` would read: a payload of at least ``directReadThreshold`` bytes is still
  /// arriving.
  func wantsDirectRead() -> Bool {
    !lifecycle.hasEnded() && machine.hasOutstandingPayload(atLeast: Self.directReadThreshold)
  }

  /// When a large payload is arriving, has the transport read it straight into the frame's storage (no
  /// copy through the transport's buffer); `nil` otherwise. Only when at least ``directReadThreshold`` bytes are
  /// outstanding, so that small frames still arrive many to a read.
  func readPayloadDirectly(_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int? {
    guard !lifecycle.hasEnded() else { return nil }
    return machine.fillPayload(ifOutstandingAtLeast: Self.directReadThreshold, read)
  }

  /// The outstanding payload, in bytes, from which ``readPayloadDirectly(_:)`` bypasses the transport's buffer:
  /// 64 KiB, the event loop's read buffer, below which one read into that buffer may also carry the frames behind.
  static let directReadThreshold = 64 * 1024

  /// The one read path: runs what arrived through the state machine. Frames, pings and pongs are handled here, at
  /// once; an event that must wait (the close reply, a failure) and everything behind it go to a task, and reading
  /// pauses until it is done. Returns whether to keep reading.
  func consume(_ event: TransportReadEvent) -> Bool {
    guard !lifecycle.hasEnded() else { return false }
    switch event {
    case .bytes(let buffer):
      var offset = 0
      while let event = machine.receive(buffer, offset: &offset) {
        guard let unhandled = handleSynchronously(consume event) else { continue }
        var rest = [unhandled]
        while let next = machine.receive(buffer, offset: &offset) { rest.append(next) }
        handleInTask(rest, ending: nil)
        return false
      }
      // Pongs the machine queued go out with the batch.
      scheduleFlush()
      if inbox.isFull(), machine.state != .closingByUs, case .suspendReading = policy.incomingOverflow() {
        reader.pausedForRoom = true
        return false
      }
      return true
    case .endOfStream:
      reader.finished = true
      handleInTask(machine.receiveEndOfStream().map { [$0] } ?? [], ending: .endOfStream)
      return false
    case .failed(let error):
      reader.finished = true
      handleInTask([], ending: .failure(error))
      return false
    }
  }

  /// How reading ended, if it did.
  enum ReadEnding {
    case endOfStream
    case failure(any Error)
  }

  /// Handles `events` in order in a task of the connection, then ends the connection or resumes reading. Out of
  /// line: ``consume(_:)`` runs for every read, this rarely.
  @inline(never)
  func handleInTask(_ events: [ConnectionEvent], ending: ReadEnding?) {
    reader.pausedForTask = true
    Task(executorPreference: transport.taskExecutor) { await self.handleEvents(events, ending: ending) }
  }

  func handleEvents(_ events: [ConnectionEvent], ending: ReadEnding?) async {
    do {
      for event in events where !lifecycle.hasEnded() { try await handle(event) }
      scheduleFlush()
      switch ending {
      case .endOfStream?:
        await end(.success(closingReasonAtEOF()))
      case .failure(let error)?:
        await end(.failure(error))
      case nil:
        break
      }
    } catch {
      await end(.failure(error))
    }
    reader.pausedForTask = false
    resumeReading()
  }

  /// The events handled without waiting: a frame for the queue, a ping (the machine queued the pong), a pong.
  /// Returns the event when it must be handled in a task instead. The event is consumed, so that a frame moves into
  /// the queue without another reference to its payload.
  @inline(__always)
  func handleSynchronously(_ event: consuming ConnectionEvent) -> ConnectionEvent? {
    if case .frame = event {
      // Moved out of the event rather than bound by a pattern: a binding copied the payload's reference (a retain
      // and a release per message).
      let frame = (consume event).movedFrame()
      if inbox.isFull() {
        // After our close frame the application reads no further than what it has: data frames that do not fit are
        // discarded, so that reading goes on to the peer's close reply instead of waiting out the close timeout.
        if !frame.frameType.isControl, machine.state == .closingByUs { return nil }
        if policy.settings.incomingOverflow == .fail { return .frame(frame) }
      }
      if case .raw = machine.configuration.mode, frame.frameType == .close, machine.state == .closed {
        return .frame(frame)
      }
      deliver(frame)
      return nil
    }
    switch consume event {
    case .pong(let payload):
      pongArrived(payload)
      return nil
    case .ping:
      return nil
    case let unhandled:
      return unhandled
    }
  }

  /// The reason the connection ends with when the peer closes TCP.
  func closingReasonAtEOF() -> CloseReason {
    if case .awaitingTransportClose(let reason) = lifecycle.phase { return reason }
    return machine.receivedCloseReason ?? (machine.state == .closed ? machine.closeReplyReason : failureReason)
  }

  func handle(_ event: ConnectionEvent) async throws {
    switch event {
    case .frame(let frame):
      if inbox.isFull(), case .fail(let reason) = policy.incomingOverflow() {
        if machine.close(reason) { try? await drainOutput(waitingForTransport: false) }
        await end(.failure(SessionError.incomingOverflow(inbox.capacity)))
        return
      }
      deliver(frame)
      if case .raw = machine.configuration.mode, frame.frameType == .close, machine.state == .closed {
        await end(.success(frame.readReason() ?? CloseReason(.noStatus)))
      }
    case .pong(let payload):
      pongArrived(payload)
    case .ping:
      break
    case .closeReceived(let reason):
      let finalReason = reason ?? CloseReason(.noStatus)
      if machine.state == .closingByPeer, deferEnd(.closeReply(finalReason)) { return }
      try await completeClose(finalReason, reply: machine.closeReplyReason)
    case .failed(let violation):
      if deferEnd(.failure(violation)) { return }
      await fail(with: violation)
    case .closedWithoutCloseFrame:
      await end(.success(CloseReason(.abnormalClosure, "Connection was closed without close frame")))
    }
  }
}
