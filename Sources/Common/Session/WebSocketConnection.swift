/// Runs a ``ConnectionStateMachine`` over a ``Transport``: the engine under the default and raw sessions of both
/// roles (the Ktor-style session types wrap it).
///
/// It is an actor on the transport's executor (the event loop that owns the socket), so the bytes go from the
/// socket through the state machine into ``receive()`` on one thread. Its state is a few values, each in a file of
/// its own: the ``SessionInbox`` (frames for the application), the ``SessionReadDriver`` (one read path), the
/// ``SessionWriteState`` (batched writes), the ``SessionLifecycle`` (open to ended) and the ``PingTracker``. Its
/// rules about time and ending are decided by the sans-I/O ``SessionPolicy`` on the injected ``SessionClock``;
/// this file only carries them out.
///
/// Reading stops while the incoming queue is full (``Options/incomingCapacity``), so a slow consumer applies
/// backpressure to the peer instead of growing memory. Frames passed to ``send(_:)`` are encoded into one output
/// queue, written in batches (one system call for the answers of a turn of the event loop) and at once past 64 KiB;
/// frames sent before a close always precede the close frame. After the end, `send`, `flush`, `close` and `ping`
/// throw ``ConnectionClosedError``: nothing is dropped silently.
public actor WebSocketConnection {
  /// The transport the connection runs on.
  public nonisolated let transport: any Transport
  /// The extensions negotiated in the opening handshake (Ktor's `extensions`), such as permessage-deflate.
  public nonisolated let extensions: [any WebSocketExtension]
  /// The transport's executor: the event loop that owns the socket.
  public nonisolated var unownedExecutor: UnownedSerialExecutor { executor }
  /// The transport's executor, read once: the runtime asks for it on every hop.
  private nonisolated let executor: UnownedSerialExecutor

  // The stored state is `@exclusivity(unchecked)`: the actor already serializes every access, and the dynamic
  // checks the compiler would add were 5 % of the server at 64 B (docs/decisions/0009).
  @exclusivity(unchecked) private var machine: ConnectionStateMachine
  @exclusivity(unchecked) private var inbox: SessionInbox
  @exclusivity(unchecked) private var reader = SessionReadDriver()
  @exclusivity(unchecked) private var writer = SessionWriteState()
  @exclusivity(unchecked) private var lifecycle = SessionLifecycle()
  @exclusivity(unchecked) private var pings = PingTracker()
  @exclusivity(unchecked) private var policy: SessionPolicy
  /// The transport when it pushes what arrives and pulls what to write (``ReadinessDrivenTransport``).
  @exclusivity(unchecked) private var pushTransport: (any ReadinessDrivenTransport)?
  /// Bytes that arrived behind the handshake's head in the same read; handled before the first read.
  @exclusivity(unchecked) private var leftover: [UInt8]
  /// The task sleeping until ``timerDeadline``, the earliest of the policy's deadlines when it was armed.
  @exclusivity(unchecked) private var timerTask: Task<Void, Never>?
  @exclusivity(unchecked) private var timerDeadline: ContinuousClock.Instant?
  /// The server handler's task while it runs (``handlerStarted()``), for its cancellation after the grace period.
  /// Set and cleared on this actor by the task itself, so it is never used after the task ends.
  @exclusivity(unchecked) private var handlerTask: UnsafeCurrentTask?
  private let clock: any SessionClock
  private let random: any SecureRandomSource

  /// Creates a connection over an open transport (after a successful opening handshake).
  ///
  /// - Parameters:
  ///   - leftover: bytes read together with the handshake's head that belong to the WebSocket stream (a peer may
  ///     send its first frames right behind the handshake).
  ///   - extensions: the extensions the handshake negotiated.
  public init(
    transport: any Transport, configuration: ConnectionStateMachine.Configuration, options: Options = Options(),
    leftover: [UInt8] = [], extensions: [any WebSocketExtension] = [],
    random: any SecureRandomSource = SystemSecureRandom()
  ) {
    self.leftover = leftover
    self.transport = transport
    self.executor = transport.executor
    self.extensions = extensions
    self.machine = ConnectionStateMachine(configuration: configuration, extensions: extensions, random: random)
    // A violation's close frame waits (bounded) for the answers to the messages that came before it.
    self.machine.holdsFailureClose = true
    self.inbox = SessionInbox(capacity: max(1, options.incomingCapacity))
    var settings = SessionPolicy.Settings(role: configuration.role, mode: configuration.mode)
    settings.closeTimeout = options.closeTimeout
    settings.pingInterval = options.pingInterval
    settings.pingTimeout = options.pingTimeout
    settings.incomingCapacity = max(1, options.incomingCapacity)
    settings.incomingOverflow = options.incomingOverflow
    settings.handlerGrace = options.handlerGrace
    self.policy = SessionPolicy(settings: settings)
    self.clock = options.clock ?? transport.sessionClock ?? SystemSessionClock()
    self.random = random
  }

  // MARK: State for callers

  /// The reason the connection closed: the peer's close, ours, a failure's, or 1006 without a close frame;
  /// waits until the connection has closed.
  public var closeReason: CloseReason {
    get async {
      if let reason = finalReason() { return reason }
      // Waiting for the end means the application is done with the messages before the peer's close.
      if lifecycle.deferredEnd() != nil { await completeDeferredEnd() }
      if let reason = finalReason() { return reason }
      // Checked again where the waiter is stored: see `receive()`.
      return await withCheckedContinuation { continuation in
        if let reason = finalReason() {
          continuation.resume(returning: reason)
        } else {
          lifecycle.closeWaiters.append(continuation)
        }
      }
    }
  }

  /// Whether the connection has closed (the transport is closed and ``closeReason`` is final).
  public var isClosed: Bool { lifecycle.hasEnded() }

  /// Frames received and not yet taken by ``receive()``; at most ``Options/incomingCapacity`` plus one read's worth.
  public var bufferedFrameCount: Int { inbox.count() }

  /// The settings in force; change them with ``updateSettings(_:)``.
  public var runtimeSettings: RuntimeSettings {
    RuntimeSettings(
      pingInterval: policy.settings.pingInterval, pingTimeout: policy.settings.pingTimeout,
      closeTimeout: policy.settings.closeTimeout, maxFrameSize: machine.configuration.maxFrameSize,
      masking: machine.configuration.masksOutgoingFrames)
  }

  /// Changes the settings of the running session; they take effect at once (a new ping interval schedules the
  /// next keepalive ping one interval from now; a new frame limit applies from the next frame header).
  public func updateSettings(_ change: (inout RuntimeSettings) -> Void) {
    var settings = runtimeSettings
    change(&settings)
    apply(settings)
  }

  /// Applies `settings` when the caller runs on the connection's event loop thread; `false` when it runs elsewhere
  /// (it then awaits ``updateSettings(_:)``).
  nonisolated func applyOnExecutorThread(_ settings: RuntimeSettings) -> Bool {
    guard transport.isExecutorThread else { return false }
    callIsolated({ connection, settings in connection.apply(settings) }, settings)
    return true
  }

  private func apply(_ settings: RuntimeSettings) {
    machine.setMaxFrameSize(settings.maxFrameSize)
    machine.setMasksOutgoingFrames(settings.masking)
    var policySettings = policy.settings
    policySettings.pingInterval = settings.pingInterval
    policySettings.pingTimeout = settings.pingTimeout
    policySettings.closeTimeout = settings.closeTimeout
    policy.update(policySettings, at: clock.now)
    armTimer()
  }

  private func finalReason() -> CloseReason? {
    switch lifecycle.outcome() {
    case .success(let reason)?: reason
    case .failure?: failureReason
    case nil: nil
    }
  }

  private var failureReason: CloseReason {
    machine.sentCloseReason ?? CloseReason(.abnormalClosure, "Connection was closed without close frame")
  }

  /// The error for a call made after the end.
  private func closedError() -> ConnectionClosedError {
    switch lifecycle.outcome() {
    case .failure(let error)?: ConnectionClosedError(reason: failureReason, failure: error)
    case .success(let reason)?: ConnectionClosedError(reason: reason)
    case nil: ConnectionClosedError(reason: failureReason)
    }
  }

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
    if let outcome = lifecycle.outcome() {
      if case .failure(let error) = outcome { throw error }
      return nil
    }
    if lifecycle.cancelled { throw CancellationError() }
    // A continuation resumes its task on the generic executor: for a task without an executor preference (the
    // server's session task, isolated to this connection; docs/decisions/0011) that is the global pool, a thread
    // hop on every wake-up. Such a task prefers the transport's executor while it waits, once the session has seen
    // a frame (an idle connection stays smaller without the preference's records).
    if inbox.hasDelivered, let taskExecutor = transport.taskExecutor,
      withUnsafeCurrentTask(body: { $0?.unownedTaskExecutor == nil })
    {
      return try await withTaskExecutorPreference(taskExecutor) {
        try await withUnsafeThrowingContinuation { continuation in waitForFrame(continuation) }
      }
    }
    return try await withUnsafeThrowingContinuation { continuation in waitForFrame(continuation) }
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
  private func takeQueuedFrame() -> Frame? {
    if !reader.hasStarted() { startReading() }
    guard let frame = inbox.applicationAsks() else { return nil }
    frameTaken()
    return frame
  }

  /// A frame left the inbox: reading resumes when it was paused for room.
  @inline(__always)
  private func frameTaken() {
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
  private nonisolated func callIsolated<Argument, Result, Failure: Error>(
    _ function: @escaping (isolated WebSocketConnection, Argument) throws(Failure) -> Result,
    _ argument: Argument
  ) throws(Failure) -> Result {
    try unsafeBitCast(function, to: ((WebSocketConnection, Argument) throws(Failure) -> Result).self)(self, argument)
  }

  /// Stores the waiting ``receive()``, or resumes it at once when a frame, the end or a cancellation came first.
  private func waitForFrame(_ continuation: UnsafeContinuation<Frame?, any Error>) {
    // Checked again where the continuation is stored: the runtime may switch executors on the way into the
    // continuation, and the connection may run other jobs in that gap (docs/decisions/0008).
    if inbox.count() > 0 {
      continuation.resume(returning: inbox.take())
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
  private func deliver(_ frame: Frame) {
    inbox.append(frame)
    if let receiver = inbox.takeReceiver() {
      receiver.resume(returning: inbox.take())
    }
  }

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
  private func enqueueOutgoing(_ frame: Frame) throws -> Bool {
    if lifecycle.hasEnded() { throw closedError() }
    try machine.send(frame)
    if frame.frameType == .close { closeWentOut() }
    let mustFlush = machine.outputCount >= Self.coalescingLimit
    if !mustFlush { scheduleFlush() }
    if frame.fin, !frame.frameType.isControl {
      inbox.applicationAnswered()
      // The application answered the last message before the peer's close: the close reply can go now (in a task
      // of its own, so that this send does not wait for the end of the closing handshake).
      if lifecycle.deferredEnd() != nil, inbox.count() == 0 {
        Task(executorPreference: transport.taskExecutor) { await self.completeDeferredEnd() }
      }
    }
    return mustFlush
  }

  /// Bytes queued before ``send(_:)`` writes at once and waits for the socket: 64 KiB. Below it, frames sent in
  /// the same turn of the event loop (the answers to a batch of messages) go out together in one write.
  static let coalescingLimit = 64 * 1024

  /// Writes what is queued once the current jobs of the executor have run (the end of this batch), unless a
  /// write is already in progress (the writer drains the queue) or scheduled.
  private func scheduleFlush() {
    guard writer.phase == .idle, machine.checkHasOutput(), !lifecycle.hasEnded() else { return }
    writer.phase = .scheduled
    if let pushTransport {
      // The transport pulls the batch at the end of the loop's turn (`takeBatchForTransport`): no task.
      pushTransport.requestWrite()
    } else {
      Task(executorPreference: transport.taskExecutor) { await self.runScheduledFlush() }
    }
  }

  /// The push-mode transport's write source: the next piece of the batch (a large payload by reference, then the
  /// buffer), or `nil` when nothing is queued or a task of the connection is writing (it drains the queue itself).
  private func takeBatchForTransport() -> [UInt8]? {
    if writer.isWriting() || lifecycle.hasEnded() { return nil }
    writer.phase = .idle
    if let chunk = machine.takeQueuedChunk() { return chunk }
    guard machine.checkHasOutput() else { return nil }
    machine.takeOutput(into: &writer.spareOutput)
    return writer.spareOutput
  }

  /// Hands the queued output to the transport, which writes it in its own batch.
  private func runScheduledFlush() async {
    if writer.phase == .scheduled { writer.phase = .idle }
    // A failure here is the transport's: the reader sees it too and ends the connection with it.
    try? await drainOutput(waitingForTransport: false)
  }

  /// Writes whatever is queued (frames sent, pongs, close frames) and returns once it is written (Ktor's `flush`).
  ///
  /// - Throws: ``ConnectionClosedError`` after the end; the transport's error.
  public func flush() async throws {
    if lifecycle.hasEnded() { throw closedError() }
    try await drainOutput(waitingForTransport: true)
  }

  /// One task writes at a time (a transport takes one write at a time): a caller that finds a write in progress
  /// waits for the writer, which keeps writing until the queue is empty.
  private func drainOutput(waitingForTransport: Bool) async throws {
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
        try await transport.write(writer.spareOutput)
      }
      // Waiters may need the bytes on the socket: a waiting flush, or a waiter that joined this writer.
      if (waitingForTransport || writer.hasWaiters()) && !lifecycle.hasEnded() { try await transport.flush() }
    } catch {
      failure = error
    }
    writer.phase = .idle
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
  private func waitForWriter() async throws -> Bool {
    let id = writer.makeWaiterID()
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
        if Task.isCancelled {
          continuation.resume(throwing: CancellationError())
        } else if !writer.isWriting() {
          continuation.resume(returning: false)
        } else {
          writer.addWaiter(id, continuation)
        }
      }
    } onCancel: {
      Task { await self.cancelWriteWaiter(id) }
    }
  }

  private func cancelWriteWaiter(_ id: UInt64) {
    writer.removeWaiter(id)?.resume(throwing: CancellationError())
  }

  // MARK: Closing

  /// Starts the closing handshake with `reason`, waits (bounded by ``Options/closeTimeout``) for the peer's close
  /// frame, and closes the transport. Returns the connection's close reason.
  ///
  /// RFC 6455 section 7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control frame by an
  /// endpoint". A reason of 1005 (no status) sends a close frame without a body; 1006, 1015 and the other codes
  /// that may not appear on the wire are a caller error.
  ///
  /// - Throws: ``ConnectionUsageError/invalidCloseCode(_:)`` for a code that may not be sent;
  ///   ``ConnectionClosedError`` when the connection had already ended.
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
    if lifecycle.hasEnded() { throw closedError() }
    if !reader.hasStarted() { startReading() }
    if lifecycle.deferredEnd() != nil {
      await completeDeferredEnd(reply: wireReason)
      return await closeReason
    }
    if machine.close(wireReason) {
      closeWentOut()
      try? await drainOutput(waitingForTransport: true)
    }
    return await closeReason
  }

  /// Our close frame is queued: the peer's close is due within the close timeout.
  private func closeWentOut() {
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
    if let reason = finalReason() {
      observer(reason)
    } else {
      lifecycle.endObservers.append(observer)
    }
  }

  // MARK: Pings

  /// Sends a ping and waits for the matching pong (default mode); returns the round-trip time.
  ///
  /// - Parameters:
  ///   - payload: at most 125 bytes; default 8 random bytes, so that the pong is matched to this ping.
  ///   - timeout: how long to wait for the pong. Default 10 s.
  /// - Throws: ``SessionError/pingTimeout(_:)`` when no pong came in time (the connection stays open),
  ///   ``ConnectionClosedError`` after the end, ``ConnectionUsageError`` while closing.
  public func ping(_ payload: [UInt8]? = nil, timeout: Duration = .seconds(10)) async throws -> Duration {
    let payload = payload ?? random.bytes(8)
    let frame = try Frame.ping(payload)
    if !reader.hasStarted() { startReading() }
    let now = clock.now
    let id = pings.register(payload: payload, at: now, keepalive: false)
    do {
      try await send(frame)
    } catch {
      pings.remove(id)
      throw error
    }
    policy.pingSent(id: id, at: now, timeout: timeout, keepalive: false)
    armTimer()
    return try await withCheckedThrowingContinuation { continuation in pings.wait(for: id, continuation) }
  }

  private func pongArrived(_ payload: [UInt8]) {
    let now = clock.now
    guard let (id, _) = pings.pongArrived(payload, at: now) else { return }
    policy.pongReceived(id: id, at: now)
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
  private func armTimer() {
    let deadline = policy.nextDeadline
    guard deadline != timerDeadline else { return }
    timerTask?.cancel()
    timerTask = nil
    timerDeadline = deadline
    guard let deadline else { return }
    let clock = clock
    timerTask = Task(executorPreference: transport.taskExecutor) {
      do { try await clock.sleep(until: deadline) } catch { return }
      await self.timerFired(deadline)
    }
  }

  private func timerFired(_ deadline: ContinuousClock.Instant) async {
    guard timerDeadline == deadline else { return }
    timerDeadline = nil
    timerTask = nil
    // The timer was armed for `deadline`: it counts as reached even if the clock reads a hair earlier (the loop's
    // timers have millisecond resolution).
    let now = max(clock.now, deadline)
    let actions = policy.timerFired(at: now)
    armTimer()
    for action in actions { await perform(action) }
  }

  private func perform(_ action: SessionPolicy.Action) async {
    switch action {
    case .sendKeepalivePing:
      guard !lifecycle.hasEnded(), machine.state == .open else { return }
      let payload = random.bytes(8)
      let now = clock.now
      let id = pings.register(payload: payload, at: now, keepalive: true)
      do {
        _ = try enqueueOutgoing(try Frame.ping(payload))
        policy.pingSent(id: id, at: now, timeout: nil, keepalive: true)
        armTimer()
      } catch {
        pings.remove(id)
      }
    case .pingTimedOut(let id, let keepalive, let limit):
      let error = SessionError.pingTimeout(limit)
      guard keepalive else { return pings.fail(id, with: error) }
      pings.remove(id)
      // Ktor's behaviour: the session closes with 1011 "Ping timeout".
      if machine.close(CloseReason(.internalError, "Ping timeout")) {
        try? await drainOutput(waitingForTransport: true)
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

  // MARK: Reading

  /// Starts reading (and keepalive pings, when configured). ``receive()``, ``close(_:)`` and ``ping(_:timeout:)``
  /// start it too; a session whose application only sends calls it so that pongs and the peer's close are still
  /// answered, and the end is noticed.
  public func start() {
    if !reader.hasStarted() { startReading() }
  }

  private func startReading() {
    policy.started(at: clock.now)
    armTimer()
    if let pushing = transport as? any ReadinessDrivenTransport {
      // The loop calls the connection when bytes arrive: no reader task to wake (docs/decisions/0008).
      reader.source = .push(handlerInstalled: false)
      pushTransport = pushing
      // The write source first: answers queued while the leftover bytes are handled are pulled from it.
      pushing.setWriteSource { [self] in
        assert(self.transport.isExecutorThread, "a readiness-driven transport asked for bytes off its executor")
        return self.callIsolated({ connection, _ in connection.takeBatchForTransport() }, ())
      }
      if !leftover.isEmpty {
        let bytes = leftover
        leftover = []
        if !bytes.withUnsafeBytes({ consume(.bytes($0)) }) { return }
      }
      resumeReading()
    } else {
      // Other transports are adapted to the same handler by a pump task, isolated to the connection only.
      // Preferring the loop as task executor too lost wake-ups under load: see docs/decisions/0007.
      reader.source = .pull(parked: nil)
      Task { await self.pumpReads() }
    }
  }

  /// Resumes reading unless it is paused or over: the transport calls the handler again, or the pump goes on.
  private func resumeReading() {
    guard !reader.mustWait(), !lifecycle.hasEnded() else { return }
    switch reader.source {
    case .notStarted:
      break
    case .pull:
      reader.takeParkedPump()?.resume()
    case .push(handlerInstalled: true):
      pushTransport?.resumeReading()
    case .push(handlerInstalled: false):
      reader.source = .push(handlerInstalled: true)
      pushTransport?.startReading(
        { [self] event in
          // The transport calls on its loop thread, which is this actor's executor.
          assert(self.transport.isExecutorThread, "a readiness-driven transport called its handler off its executor")
          return self.callIsolated({ connection, event in connection.consume(event) }, event)
        },
        directReader: { [self] read in
          assert(self.transport.isExecutorThread, "a readiness-driven transport called its reader off its executor")
          return withoutActuallyEscaping(read) { read in
            self.callIsolated({ connection, read in connection.readPayloadDirectly(read) }, read)
          }
        })
    }
  }

  /// The pull adapter: awaits the transport's reads and hands each buffer to ``consume(_:)``, parking while
  /// reading is paused, until reading is over.
  private func pumpReads() async {
    if !leftover.isEmpty {
      let bytes = leftover
      leftover = []
      _ = bytes.withUnsafeBytes { consume(.bytes($0)) }
    }
    while !reader.finished, !lifecycle.hasEnded() {
      if reader.mustWait() {
        await withUnsafeContinuation { continuation in
          // Checked again here: see `receive()`.
          if !reader.mustWait() || lifecycle.hasEnded() {
            continuation.resume()
          } else {
            reader.source = .pull(parked: continuation)
          }
        }
        continue
      }
      do {
        _ = try await transport.read { buffer in consume(buffer.isEmpty ? .endOfStream : .bytes(buffer)) }
      } catch {
        _ = consume(.failed(error))
      }
    }
  }

  /// Push mode: when a large payload is arriving, has the transport read it straight into the frame's storage (no
  /// copy through the transport's buffer); `nil` otherwise. Only when at least ``directReadThreshold`` bytes are
  /// outstanding, so that small frames still arrive many to a read.
  private func readPayloadDirectly(_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int? {
    guard !lifecycle.hasEnded() else { return nil }
    return machine.fillPayload(ifOutstandingAtLeast: Self.directReadThreshold, read)
  }

  /// The outstanding payload, in bytes, from which ``readPayloadDirectly(_:)`` bypasses the transport's buffer:
  /// 64 KiB, the event loop's read buffer, below which one read into that buffer may also carry the frames behind.
  private static let directReadThreshold = 64 * 1024

  /// The one read path: runs what arrived through the state machine. Frames, pings and pongs are handled here, at
  /// once; an event that must wait (the close reply, a failure) and everything behind it go to a task, and reading
  /// pauses until it is done. Returns whether to keep reading.
  private func consume(_ event: TransportReadEvent) -> Bool {
    guard !lifecycle.hasEnded() else { return false }
    switch event {
    case .bytes(let buffer):
      var offset = 0
      while let event = machine.receive(buffer, offset: &offset) {
        if handleSynchronously(event) { continue }
        var rest = [event]
        while let next = machine.receive(buffer, offset: &offset) { rest.append(next) }
        handleInTask(rest, ending: nil)
        return false
      }
      // Pongs the machine queued go out with the batch.
      scheduleFlush()
      if inbox.isFull(), case .suspendReading = policy.incomingOverflow() {
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
  private enum ReadEnding {
    case endOfStream
    case failure(any Error)
  }

  /// Handles `events` in order in a task of the connection, then ends the connection or resumes reading.
  private func handleInTask(_ events: [ConnectionEvent], ending: ReadEnding?) {
    reader.pausedForTask = true
    Task(executorPreference: transport.taskExecutor) { await self.handleEvents(events, ending: ending) }
  }

  private func handleEvents(_ events: [ConnectionEvent], ending: ReadEnding?) async {
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
  @inline(__always)
  private func handleSynchronously(_ event: ConnectionEvent) -> Bool {
    switch event {
    case .frame(let frame):
      if inbox.isFull(), policy.settings.incomingOverflow == .fail { return false }
      if case .raw = machine.configuration.mode, frame.frameType == .close, machine.state == .closed { return false }
      deliver(frame)
      return true
    case .pong(let payload):
      pongArrived(payload)
      return true
    case .ping:
      return true
    case .closeReceived, .failed, .closedWithoutCloseFrame:
      return false
    }
  }

  /// The reason the connection ends with when the peer closes TCP.
  private func closingReasonAtEOF() -> CloseReason {
    if case .awaitingTransportClose(let reason) = lifecycle.phase { return reason }
    return machine.receivedCloseReason ?? (machine.state == .closed ? machine.closeReplyReason : failureReason)
  }

  private func handle(_ event: ConnectionEvent) async throws {
    switch event {
    case .frame(let frame):
      if inbox.isFull(), case .fail(let reason) = policy.incomingOverflow() {
        if machine.close(reason) { try? await drainOutput(waitingForTransport: true) }
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

  /// Asks the policy whether the end waits for the application (messages before it are unread or being answered);
  /// when it does, records it and arms the timer. Returns whether it was deferred.
  private func deferEnd(_ end: SessionLifecycle.DeferredEnd) -> Bool {
    let timing = policy.endTiming(
      unreadMessages: inbox.count(), applicationHoldsMessage: inbox.applicationHoldsMessage,
      applicationReads: inbox.applicationReads, at: clock.now)
    guard case .deferred = timing else { return false }
    lifecycle.phase = .awaitingApplication(end)
    armTimer()
    return true
  }

  /// Answers the peer's close (unless we sent ours already), then the policy says who closes TCP: the server at
  /// once, the client after waiting (bounded) for the server.
  private func completeClose(_ finalReason: CloseReason, reply: CloseReason?) async throws {
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

  /// Fails the connection: the violation's close frame goes behind what is queued, then the transport closes.
  private func fail(with violation: ProtocolViolation) async {
    machine.releaseFailureClose()
    try? await drainOutput(waitingForTransport: true)
    await end(.failure(violation))
  }

  /// Ends the connection as deferred: the close reply (with `reply`, when the application closes), or the failure.
  private func completeDeferredEnd(reply: CloseReason?? = nil) async {
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
  private func end(_ proposed: Result<CloseReason, any Error>) async {
    guard !lifecycle.hasEnded() else { return }
    var result = proposed
    if case .failure(let violation)? = lifecycle.deferredEnd() {
      // The transport ends (EOF, a timeout) while a failure waited for the application: the failure it is.
      machine.releaseFailureClose()
      result = .failure(violation)
    }
    lifecycle.phase = .ended(result)
    reader.finished = true
    policy.ended(at: clock.now, handlerRunning: handlerTask != nil)
    armTimer()
    await transport.close()
    if let receiver = inbox.takeReceiver() {
      if inbox.count() > 0 {
        receiver.resume(returning: inbox.take())
      } else {
        switch result {
        case .success: receiver.resume(returning: nil)
        case .failure(let error): receiver.resume(throwing: error)
        }
      }
    }
    reader.takeParkedPump()?.resume()
    let reason = finalReason() ?? failureReason
    for waiter in lifecycle.closeWaiters { waiter.resume(returning: reason) }
    lifecycle.closeWaiters.removeAll()
    for observer in lifecycle.endObservers { observer(reason) }
    lifecycle.endObservers.removeAll()
    pings.failAll(with: closedError())
  }
}
