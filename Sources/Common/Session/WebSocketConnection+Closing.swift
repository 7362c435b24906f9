// The closing handshake and the end: `close`, `cancel`, `terminate`, the deferred end, who closes TCP.
extension WebSocketConnection {
  // MARK: Closing

  /// Starts the closing handshake with `reason`, waits (bounded by ``Options/closeTimeout``) for the peer's close
  /// frame, and closes the transport. Returns the connection's close reason.
  ///
  /// Frames received before are still delivered by ``receive()``; data frames that arrive after our close frame
  /// while the incoming queue is full are discarded (the application asked to close), so that the peer's close
  /// reply is read at once instead of after the close timeout.
  ///
  /// RFC 6455 section 7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control frame by an
  /// endpoint". A reason of 1005 (no status) sends a close frame without a body; 1006, 1015 and the other codes
  /// that may not appear on the wire are a caller error.
  ///
  /// On a connection that has ended it returns the close reason at once (as Ktor's `close` on a closed session);
  /// only `send` after the end throws.
  ///
  /// - Throws: ``ConnectionUsageError/invalidCloseCode(_:)`` for a code that may not be sent.
  @discardableResult
  public func close(_ reason: CloseReason = CloseReason(.normal)) async throws -> CloseReason {
    let wireReason: CloseReason?
    if reason.code == .noStatus {
      wireReason = nil
    } else if reason.code.isValidOnWire {
      wireReason = reason
    } else {
      throw ConnectionUsageError.invalidCloseCode(reason.code.rawValue)
    }
    if lifecycle.hasEnded() { return await closeReason }
    if !reader.hasStarted() { startReading() }
    if lifecycle.deferredEnd() != nil {
      await completeDeferredEnd(reply: wireReason)
      return await closeReason
    }
    if machine.close(wireReason) {
      closeWentOut()
      // Reading paused for a full inbox goes on: the peer's close reply must be read (data frames that do not fit
      // from now on are discarded; ``handleSynchronously(_:)``).
      if reader.pausedForRoom {
        reader.pausedForRoom = false
        resumeReading()
      }
      try? await drainOutput(waitingForTransport: true)
    }
    return await closeReason
  }

  /// Starts the closing handshake with `reason` and returns at once (a server closing all its sessions): the close
  /// frame goes out at the end of the executor's turn, and the peer's reply, or ``Options/closeTimeout``, ends the
  /// connection, and `ended` is called with its close reason (at once when the connection has ended). Sends nothing
  /// on a connection that already sent its close, or for a code that may not be sent (RFC 6455 section 7.4.1).
  package func startClosing(_ reason: CloseReason, ended: @escaping @Sendable (CloseReason) -> Void) {
    onEnd(ended)
    guard reason.code.isValidOnWire, !lifecycle.hasEnded() else { return }
    if !reader.hasStarted() { startReading() }
    if lifecycle.deferredEnd() != nil {
      // The peer's close came first and waits for the application: the reply carries our reason (rare; a task).
      Task(executorPreference: transport.taskExecutor) { await self.completeDeferredEnd(reply: reason) }
      return
    }
    guard machine.close(reason) else { return }
    closeWentOut()
    if reader.pausedForRoom {
      reader.pausedForRoom = false
      resumeReading()
    }
    scheduleFlush()
  }

  /// ``startClosing(_:ended:)`` without a hop when the caller runs on the connection's executor thread (a server's
  /// shutdown visits the sessions of each event loop on that loop).
  package nonisolated func startClosingOnExecutor(
    _ reason: CloseReason, ended: @escaping @Sendable (CloseReason) -> Void
  ) async {
    guard transport.isExecutorThread else { return await startClosing(reason, ended: ended) }
    callIsolated({ connection, arguments in connection.startClosing(arguments.0, ended: arguments.1) }, (reason, ended))
  }

  /// Our close frame is queued: the peer's close is due within the close timeout. Out of line: `enqueueOutgoing`
  /// calls it for a close frame, and inlined there the clock's resilient types (metadata lookups, stack space) were
  /// paid on every send.
  @inline(never)
  func closeWentOut() {
    policy.closeSent(at: clock.now)
    if case .open = lifecycle.phase { lifecycle.phase = .closeSent }
    armTimer()
  }

  /// Closes the transport at once, without a closing handshake (Ktor's `terminate()`): for a raw session whose
  /// handler returned, and for a server that stops after its grace period. The close reason becomes the close
  /// frame we sent, if any, else 1006.
  public func terminate() async {
    await end(.success(machine.sentCloseReason ?? machine.receivedCloseReason ?? failureReason))
  }

  /// Cancels the session (Ktor's `cancel()`): a waiting ``receive()`` throws `CancellationError`, and the
  /// connection closes with 1001 (going away) within the close timeout, so the peer sees a clean close.
  public func cancel() async {
    guard !lifecycle.hasEnded() else { return }
    lifecycle.cancelled = true
    inbox.takeReceiver()?.resume(throwing: CancellationError())
    _ = try? await close(CloseReason(.goingAway))
  }

  /// Calls `observer` once when the connection ends, with its close reason (at once when it has ended).
  public func onEnd(_ observer: @escaping @Sendable (CloseReason) -> Void) {
    onEnd { reason, _ in observer(reason) }
  }

  /// Calls `observer` once when the connection ends, with its close reason and what it carried.
  public func onEnd(_ observer: @escaping @Sendable (CloseReason, SessionTraffic) -> Void) {
    if let reason = finalReason() {
      observer(reason, trafficCounts)
    } else {
      lifecycle.endObservers.append(observer)
    }
  }

  /// Asks the policy whether the end waits for the application (messages before it are unread or being answered);
  /// when it does, records it and arms the timer. Returns whether it was deferred.
  func deferEnd(_ end: SessionLifecycle.DeferredEnd) -> Bool {
    let timing = policy.endTiming(
      unreadMessages: inbox.count(), applicationHoldsMessage: inbox.applicationHoldsMessage,
      applicationAwake: inbox.applicationAwake, applicationReads: inbox.applicationReads, at: clock.now)
    guard case .deferred = timing else { return false }
    lifecycle.phase = .awaitingApplication(end)
    armTimer()
    return true
  }

  /// Answers the peer's close (unless we sent ours already), then the policy says who closes TCP: the server at
  /// once, the client after waiting (bounded) for the server.
  func completeClose(_ finalReason: CloseReason, reply: CloseReason?) async throws {
    if machine.state == .closingByPeer {
      // The close frame goes behind the frames queued before it.
      machine.close(reply)
      try await drainOutput(waitingForTransport: true)
    }
    switch policy.closeHandshakeCompleted(at: clock.now) {
    case .closeNow:
      await end(.success(finalReason))
    case .awaitPeer:
      lifecycle.phase = .awaitingTransportClose(finalReason)
      armTimer()
    }
  }

  /// Fails the connection: the violation's close frame goes behind what is queued, then the transport closes (its
  /// close sends what it holds, bounded). The frame is handed to the transport without waiting for the peer to take
  /// it: a peer that stopped reading (a full socket, an HTTP/2 window kept at zero) must not hold the failure.
  func fail(with violation: ProtocolViolation) async {
    machine.releaseFailureClose()
    try? await drainOutput(waitingForTransport: false)
    await end(.failure(violation))
  }

  /// Ends the connection as deferred: the close reply (with `reply`, when the application closes), or the failure.
  func completeDeferredEnd(reply: CloseReason?? = nil) async {
    guard let deferred = lifecycle.deferredEnd() else { return }
    lifecycle.phase = machine.state == .closingByUs ? .closeSent : .open
    policy.deferredEndCompleted()
    switch deferred {
    case .closeReply(let finalReason):
      do {
        try await completeClose(finalReason, reply: reply ?? machine.closeReplyReason)
      } catch {
        await end(.failure(error))
      }
    case .failure(let violation):
      await fail(with: violation)
    }
  }

  // MARK: The end

  /// Ends the connection with `proposed` (once): closes the transport and wakes everyone who waits.
  func end(_ proposed: Result<CloseReason, any Error>) async {
    guard !lifecycle.hasEnded() else { return }
    var result = proposed
    if case .failure(let violation)? = lifecycle.deferredEnd() {
      // The transport ends (EOF, a timeout) while a failure waited for the application: the failure it is.
      machine.releaseFailureClose()
      result = .failure(violation)
    }
    lifecycle.phase = .ended(result)
    markEnded()
    reader.finished = true
    policy.ended(at: clock.now, handlerRunning: handlerTask != nil)
    armTimer()
    if case .failure = result, let abortable = transport as? any AbortableTransport {
      await abortable.abort()
    } else {
      await transport.close()
    }
    if let receiver = inbox.takeReceiver() {
      if inbox.count() > 0 {
        receiver.resume(returning: inbox.take(offeringTo: &machine))
      } else {
        switch result {
        case .success: receiver.resume(returning: nil)
        case .failure(let error): receiver.resume(throwing: error)
        }
      }
    }
    let reason = finalReason() ?? failureReason
    for waiter in lifecycle.closeWaiters { waiter.resume(returning: reason) }
    lifecycle.closeWaiters.removeAll()
    for observer in lifecycle.endObservers { observer(reason, trafficCounts) }
    lifecycle.endObservers.removeAll()
    pingWaiters.failAll(with: closedError())
  }
}
