// Pings, the server handler's task, and the one timer that carries out the policy's deadlines.
extension WebSocketConnection {
  // MARK: Pings

  /// Sends a ping and waits for the matching pong (default mode); returns the round-trip time.
  ///
  /// - Parameters:
  ///   - payload: at most 125 bytes; default 8 random bytes, so that the pong is matched to this ping.
  ///   - timeout: how long to wait for the pong. Default 10 s.
  /// - Throws: ``SessionError/pingTimeout(_:)`` when no pong came in time (the connection stays open),
  ///   ``ConnectionClosedError`` after the end, ``ConnectionUsageError`` while closing.
  public func ping(_ payload: [UInt8]? = nil, timeout: Duration = .seconds(10)) async throws -> Duration {
    let payload = payload ?? machine.randomBytes(8)
    let frame = try Frame.ping(payload)
    if !reader.hasStarted() { startReading() }
    // Tracked before it goes out: its pong may come back before `send` returns.
    let id = policy.pingSent(payload: payload, at: clock.now, timeout: timeout, keepalive: false)
    pingWaiters.expect(id)
    do {
      try await send(frame)
    } catch {
      policy.pingAbandoned(id)
      pingWaiters.forget(id)
      throw error
    }
    armTimer()
    return try await waitOnTransportExecutor {
      try await withCheckedThrowingContinuation { continuation in pingWaiters.wait(for: id, continuation) }
    }
  }

  func pongArrived(_ payload: [UInt8]) {
    guard let match = policy.pongReceived(payload: payload, at: clock.now) else { return }
    WispMetrics.pingAnswered(machine.configuration.role, roundTrip: match.roundTrip, factory: metricsFactory)
    if !match.keepalive { pingWaiters.resolve(match.id, with: .success(match.roundTrip)) }
    armTimer()
  }

  // MARK: Server handler

  /// The server's handler starts in the current task: it is cancelled ``Options/handlerGrace`` after the
  /// connection ends, so that a handler waiting on something else (a sleep, another stream) ends too.
  public func handlerStarted() {
    withUnsafeCurrentTask { handlerTask = $0 }
    if lifecycle.hasEnded() {
      policy.ended(at: clock.now, handlerRunning: true)
      armTimer()
    }
  }

  /// The server's handler returned: nothing to cancel any more.
  public func handlerFinished() {
    handlerTask = nil
    policy.handlerFinished()
    armTimer()
  }

  // MARK: Timers

  /// Arms the session's one timer for exactly the policy's next deadline (a task sleeping on the clock), or
  /// disarms it when nothing is due. Deadlines change rarely (a close, a keepalive round trip, the end), so a task
  /// per change costs nothing on the message path.
  func armTimer() {
    let deadline = policy.nextDeadlineNanos
    guard deadline != timer.deadline else { return }
    timer.cancel(on: clock)
    timer = SessionTimer()
    guard deadline != SessionPolicy.none else { return }
    let clock = clock
    let instant = policy.instant(atNanos: deadline)
    let leeway = Duration.nanoseconds(policy.leewayNanos(forDeadline: deadline))
    // On the clock's own thread (the event loop that serves the connection), or with a clock that takes callbacks
    // from any thread (the test host's manual clock), the clock calls back: nothing sleeps while the session idles,
    // and a task runs only when the deadline comes.
    // On the loop's thread the callback captures only the connection (a closure whose context is one reference needs
    // no allocation: memory per idle session, issue 34) and finds its deadline in `timer`: a re-arm cancels the
    // previous callback on this same thread, so a callback that runs is the current timer's.
    if transport.isExecutorThread && clock === transport.sessionClock,
      let callback = clock.scheduleCallback(at: instant, leeway: leeway, { [self] in timerCallbackOnExecutor() })
    {
      timer = .callback(deadline: deadline, id: callback)
      return
    }
    if clock.schedulesCallbacksFromAnyThread,
      let callback = clock.scheduleCallback(at: instant, leeway: leeway, { [self] in timerCallback(deadline) })
    {
      timer = .callback(deadline: deadline, id: callback)
      return
    }
    let task = Task(executorPreference: transport.taskExecutor) {
      do { try await clock.sleep(until: instant) } catch { return }
      await self.timerFired(deadline)
    }
    timer = .sleeping(deadline: deadline, task: task)
  }

  /// The clock's callback for `deadline` (nanoseconds from the policy's origin) fired. On the connection's executor
  /// thread (the event loop), what the deadline asks for runs here when it needs no waiting (a keepalive ping:
  /// queued, written at the end of the loop's turn), so that a million idle sessions' pings cost no task each; the
  /// rest (a close, a timeout's end) runs in a task of the connection (it may write and wait). Elsewhere (a manual
  /// clock's callback) all of it runs in the task.
  nonisolated func timerCallback(_ deadline: Int64) {
    if transport.isExecutorThread {
      let rest = callIsolated({ connection, deadline in connection.timerFiredInline(deadline) }, deadline)
      guard !rest.isEmpty else { return }
      Task(executorPreference: transport.taskExecutor) { await self.perform(rest) }
      return
    }
    Task(executorPreference: transport.taskExecutor) { await self.timerFired(deadline) }
  }

  /// The loop's callback for the current timer fired, on the connection's executor thread.
  nonisolated func timerCallbackOnExecutor() {
    let rest: [SessionPolicy.Action] = callIsolated(
      { connection, _ in
        guard connection.timer.isArmed else { return [] }
        return connection.timerFiredInline(connection.timer.deadline)
      }, ())
    guard !rest.isEmpty else { return }
    Task(executorPreference: transport.taskExecutor) { await self.perform(rest) }
  }

  /// The timer of `deadline` fired on the executor: performs the synchronous actions up to the first that waits, and
  /// returns that one and those after it, in order.
  func timerFiredInline(_ deadline: Int64) -> [SessionPolicy.Action] {
    let actions = takeTimerActions(deadline)
    var index = actions.startIndex
    while index < actions.endIndex, case .sendKeepalivePing = actions[index] {
      sendKeepalivePing()
      index += 1
    }
    return Array(actions[index...])
  }

  func timerFired(_ deadline: Int64) async {
    await perform(takeTimerActions(deadline))
  }

  /// What the policy does at `deadline`, once (nothing when the timer was re-armed since); re-arms the timer.
  private func takeTimerActions(_ deadline: Int64) -> [SessionPolicy.Action] {
    guard timer.isArmed, timer.deadline == deadline else { return [] }
    timer = SessionTimer()
    // The timer was armed for `deadline`: it counts as reached even if the clock reads a hair earlier (the loop's
    // timers have millisecond resolution).
    let now = max(policy.nanos(at: clock.now), deadline)
    // A loop that fell behind may hold the pong unread (its socket reported readable behind a full batch of other
    // sockets' events, or not yet): read what has arrived before the policy blames the peer with 1011.
    if policy.keepalivePongOverdue(atNanos: now), transport.isExecutorThread,
      let catchingUp = transport as? any CatchingUpTransport
    {
      catchingUp.deliverWhatHasArrived()
      guard !lifecycle.hasEnded() else { return [] }
    }
    let actions = policy.timerFired(atNanos: now)
    armTimer()
    return actions
  }

  func perform(_ actions: [SessionPolicy.Action]) async {
    for action in actions { await perform(action) }
  }

  /// Queues a keepalive ping (written at the end of the executor's turn) and arms the timer for its pong.
  func sendKeepalivePing() {
    guard !lifecycle.hasEnded(), machine.state == .open else { return }
    let payload = machine.randomBytes(8)
    let id = policy.pingSent(payload: payload, at: clock.now, timeout: nil, keepalive: true)
    do {
      _ = try enqueueOutgoing(try Frame.ping(payload))
    } catch {
      policy.pingAbandoned(id)
    }
    armTimer()
  }

  func perform(_ action: SessionPolicy.Action) async {
    switch action {
    case .sendKeepalivePing:
      sendKeepalivePing()
    case .pingTimedOut(let id, let keepalive, let limit):
      let error = SessionError.pingTimeout(limit)
      guard keepalive else { return pingWaiters.resolve(id, with: .failure(error)) }
      // Ktor's behaviour: the session closes with 1011 "Ping timeout". The frame is handed to the transport without
      // waiting for the peer, which may be what stopped the pong (a full socket, an HTTP/2 window kept at zero).
      if machine.close(CloseReason(.internalError, "Ping timeout")) {
        try? await drainOutput(waitingForTransport: false)
      }
      await end(.failure(error))
    case .completeDeferredEnd:
      await completeDeferredEnd()
    case .closeTransport:
      if case .awaitingTransportClose(let reason) = lifecycle.phase {
        await end(.success(reason))
      } else {
        await end(.success(machine.sentCloseReason ?? CloseReason(.noStatus)))
      }
    case .cancelHandler:
      handlerTask?.cancel()
    }
  }
}
