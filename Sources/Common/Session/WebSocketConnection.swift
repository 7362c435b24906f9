/// Runs a ``ConnectionStateMachine`` over a ``Transport``: the engine under the default and raw sessions of both
/// roles (the Ktor-style session types wrap it).
///
/// It is an actor on the transport's executor (the event loop that owns the socket), so the bytes go from the
/// socket through the state machine into ``receive()`` on one thread. A ``ReadinessDrivenTransport`` (a socket)
/// hands it what arrives from the loop; other transports are read by a reader task. Either way reading stops
/// while the incoming queue is full (``Options/incomingCapacity``), so a slow consumer applies backpressure to the
/// peer instead of growing memory. Frames passed to ``send(_:)`` are encoded into one output
/// queue, written in batches (one system call for the answers of a turn of the event loop) and at once past 64
/// KiB; frames sent before a close always precede the close frame.
public actor WebSocketConnection {
  /// Session-level settings.
  public struct Options: Sendable, Hashable {
    /// What happens when the incoming queue is full.
    public enum Overflow: Sendable, Hashable {
      /// Stop reading from the socket until the application takes frames (backpressure). The default.
      case suspend
      /// Fail the session with ``SessionError/incomingOverflow(_:)`` and close with 1008 (Ktor's `close` policy).
      case fail
    }

    /// Whole frames (default mode: whole messages) buffered before the overflow policy applies. Default 64;
    /// `Int.max` for unlimited (memory is then bounded only by the peer).
    public var incomingCapacity: Int = 64
    /// What a full incoming queue does. Default ``Overflow/suspend``.
    public var incomingOverflow: Overflow = .suspend
    /// How long to wait for the peer's close frame after ours, and (client) for the server to close TCP after the
    /// handshake, before closing the transport. Default 5 s (Ktor has no such bound; RFC 6455 section 7.1.1 lets
    /// the client close after "some time").
    public var closeTimeout: Duration = .seconds(5)
    /// How often to ping the peer; `nil` (the default) sends no pings. Ktor's `pingInterval`/`pingPeriod`.
    public var pingInterval: Duration?
    /// How long to wait for the pong that answers a ping before closing with 1011 "Ping timeout"; `nil` (the
    /// default) means twice ``pingInterval``, as Ktor's client fixes it.
    public var pingTimeout: Duration?

    /// Creates the default options.
    public init() {}
  }

  /// Failures of the session itself, as opposed to the peer's protocol violations.
  public enum SessionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The peer did not answer a ping within the ping timeout; the connection closed with 1011 "Ping timeout".
    case pingTimeout(Duration)
    /// More frames arrived than the incoming capacity with the ``Options/Overflow/fail`` policy; closed with 1008.
    case incomingOverflow(Int)

    /// A sentence that says what happened.
    public var description: String {
      switch self {
      case .pingTimeout(let limit): "the peer did not answer a ping within \(limit)"
      case .incomingOverflow(let capacity): "more than \(capacity) incoming frames were waiting to be received"
      }
    }
  }

  /// The transport the connection runs on.
  public nonisolated let transport: any Transport
  /// The extensions negotiated in the opening handshake (Ktor's `extensions`), such as permessage-deflate.
  public nonisolated let extensions: [any WebSocketExtension]
  /// The transport's executor: the event loop that owns the socket.
  public nonisolated var unownedExecutor: UnownedSerialExecutor { executor }
  /// The transport's executor, read once: the runtime asks for it on every hop.
  private nonisolated let executor: UnownedSerialExecutor

  // The stored state is `@exclusivity(unchecked)`: the actor already serializes every access, and the dynamic
  // checks the compiler would add (a thread-local access set per access) were 5 % of the server at 64 B. A
  // conflicting access inside one call would be a bug here, not in the caller (docs/decisions/0009).
  @exclusivity(unchecked) private var machine: ConnectionStateMachine
  private let options: Options
  @exclusivity(unchecked) private var queue: [Frame] = []
  @exclusivity(unchecked) private var queueHead = 0
  /// The task waiting in ``receive()``. Unsafe rather than checked: the checked kind is a resilient type, so every
  /// `if let receiver` on the delivery path went through its value witnesses (1 % of the server at 64 B), and each
  /// wait allocated its canary. It is resumed in exactly two places, each clearing it first.
  @exclusivity(unchecked) private var receiver: UnsafeContinuation<Frame?, any Error>?
  /// The pull-mode reader waiting for room in the queue; unsafe for the reason given at ``receiver`` (it is checked
  /// on every dequeue), resumed in two places, each clearing it first.
  @exclusivity(unchecked) private var readerPaused: UnsafeContinuation<Void, Never>?
  @exclusivity(unchecked) private var closeWaiters: [CheckedContinuation<CloseReason, Never>] = []
  @exclusivity(unchecked) private var outcome: Result<CloseReason, any Error>?
  @exclusivity(unchecked) private var transportClosed = false
  @exclusivity(unchecked) private var readerStarted = false
  @exclusivity(unchecked) private var writing = false
  @exclusivity(unchecked) private var flushScheduled = false
  /// The buffer the last write used, handed back to the state machine for the next output (keeps its capacity).
  @exclusivity(unchecked) private var spareOutput: [UInt8] = []
  /// Callers waiting for the task that writes; resumed with `true` when it has written (and flushed) their bytes.
  @exclusivity(unchecked) private var writeWaiters: [(id: UInt64, continuation: CheckedContinuation<Bool, any Error>)] =
    []
  @exclusivity(unchecked) private var nextWriteWaiter: UInt64 = 0
  @exclusivity(unchecked) private var pendingPing: [UInt8]?
  /// The peer's close reason while our reply waits for the application to take the messages before it.
  @exclusivity(unchecked) private var deferredEnd: DeferredEnd?
  @exclusivity(unchecked) private var deferredCloseWatchdog: Task<Void, Never>?
  /// Whether the application has called ``receive()`` (the close reply waits longer for a reading application).
  @exclusivity(unchecked) private var applicationReads = false
  /// Whether a frame has been delivered: ``receive()`` waits with the loop preferred only in a session that has seen
  /// traffic (see there).
  @exclusivity(unchecked) private var hasDelivered = false
  /// Whether the application holds a message from ``receive()`` and has not asked for the next one yet (it may be
  /// answering it).
  @exclusivity(unchecked) private var applicationHoldsMessage = false
  /// Callers of ``ping(_:timeout:)`` waiting for their pong, by payload.
  @exclusivity(unchecked) private var pingWaiters:
    [(payload: [UInt8], continuation: CheckedContinuation<Void, any Error>)] = []
  @exclusivity(unchecked) private var pinger: Task<Void, Never>?
  /// The last pong that matched no waiting ``ping(_:timeout:)``: it may have overtaken its caller on the way to
  /// the wait.
  @exclusivity(unchecked) private var unmatchedPong: [UInt8]?
  private let random: any SecureRandomSource
  /// Bytes that arrived behind the handshake's head in the same read; processed before the first socket read.
  @exclusivity(unchecked) private var leftover: [UInt8]
  /// The transport when it pushes what arrives (``ReadinessDrivenTransport``); `nil` for pull-mode transports,
  /// which a reader task reads instead.
  @exclusivity(unchecked) private var pushTransport: (any ReadinessDrivenTransport)?
  /// Whether the push-mode handler is installed on the transport.
  @exclusivity(unchecked) private var pushStarted = false
  /// Push mode: reading paused because the incoming queue is full (``Options/Overflow/suspend``).
  @exclusivity(unchecked) private var pushPausedForRoom = false
  /// Push mode: reading paused while a task handles events that must wait (a close reply, a failure).
  @exclusivity(unchecked) private var pushPausedForTask = false

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
    self.options = options
    self.random = random
  }

  /// The reason the connection closed: the peer's close, ours, a failure's, or 1006 without a close frame;
  /// waits until the connection has closed.
  public var closeReason: CloseReason {
    get async {
      if case .success(let reason)? = outcome { return reason }
      if case .failure? = outcome { return failureReason }
      // Waiting for the end means the application is done with the messages before the peer's close.
      if deferredEnd != nil { await completeDeferredClose() }
      if case .success(let reason)? = outcome { return reason }
      if case .failure? = outcome { return failureReason }
      // Checked again where the waiter is stored: see `receive()`.
      return await withCheckedContinuation { continuation in
        switch outcome {
        case .success(let reason)?: continuation.resume(returning: reason)
        case .failure?: continuation.resume(returning: failureReason)
        case nil: closeWaiters.append(continuation)
        }
      }
    }
  }

  /// Frames received and not yet taken by ``receive()``; at most ``Options/incomingCapacity`` plus one read's worth.
  public var bufferedFrameCount: Int { queue.count - queueHead }

  private var failureReason: CloseReason {
    machine.sentCloseReason ?? CloseReason(.abnormalClosure, "Connection was closed without close frame")
  }

  /// The next incoming frame (default mode: whole message; raw mode: every frame), or `nil` once the connection
  /// closed normally.
  ///
  /// - Throws: the ``ProtocolViolation`` that failed the connection, or the transport's error.
  public func receive() async throws -> Frame? {
    if let frame = takeQueuedFrame() { return frame }
    // Every message before the peer's close is taken (and answered): now reply to the close.
    if deferredEnd != nil { await completeDeferredClose() }
    if let outcome {
      if case .failure(let error) = outcome { throw error }
      return nil
    }
    // A continuation resumes its task on the generic executor: for a task without an executor preference (the
    // server's session task, isolated to this connection; docs/decisions/0011) that is the global pool, a thread
    // hop on every wake-up. Such a task prefers the transport's executor while it waits, once the session has seen
    // a frame: the preference's frame and record take the idle task past its first allocation slab (about 950 B
    // more per idle connection), so a session that has been silent since it opened waits without it and pays the
    // hop on its first wake-up only.
    if hasDelivered, let taskExecutor = transport.taskExecutor,
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
    startReaderIfNeeded()
    applicationReads = true
    applicationHoldsMessage = false
    guard queueHead < queue.count else { return nil }
    applicationHoldsMessage = true
    return dequeue()
  }

  /// Calls `function` isolated to the connection, synchronously. Only on the executor's thread (``Transport/
  /// isExecutorThread``): the event loop runs one job at a time, so no job of this actor runs meanwhile, which is
  /// what isolation guarantees. What `assumeIsolated` does after its check (the caller made a cheaper one, a thread
  /// comparison), without its closure: callers pass a closure that captures nothing, so no context is allocated and
  /// no escape check runs (two allocations per message, measured, with a capturing closure).
  @inline(__always)
  private nonisolated func callIsolated<Argument, Result, Failure: Error>(
    _ function: @escaping (isolated WebSocketConnection, Argument) throws(Failure) -> Result,
    _ argument: Argument
  ) throws(Failure) -> Result {
    try unsafeBitCast(function, to: ((WebSocketConnection, Argument) throws(Failure) -> Result).self)(self, argument)
  }

  /// Stores the waiting ``receive()``, or resumes it at once when a frame, the close or a failure came first.
  private func waitForFrame(_ continuation: UnsafeContinuation<Frame?, any Error>) {
    // Everything is checked again where the continuation is stored: the runtime may switch executors on the way
    // into the continuation (a task that does not prefer the loop as task executor is moved off it first), and the
    // connection may run other jobs in that gap, such as delivering a frame or closing (docs/decisions/0008).
    if queueHead < queue.count {
      applicationHoldsMessage = true
      continuation.resume(returning: dequeue())
    } else if case .failure(let error)? = outcome {
      continuation.resume(throwing: error)
    } else if outcome != nil {
      continuation.resume(returning: nil)
    } else {
      receiver = continuation
      if deferredEnd != nil { Task { await self.completeDeferredClose() } }
    }
  }

  private func dequeue() -> Frame {
    // Moved out, not copied: the application then holds the only reference to the payload (a large one can be
    // recycled once written back, ``LargeBufferRecycler``).
    var frame = Frame.binary([])
    swap(&frame, &queue[queueHead])
    queueHead += 1
    if queueHead == queue.count {
      queue.removeAll(keepingCapacity: true)
      queueHead = 0
    }
    if let paused = readerPaused, queue.count - queueHead < options.incomingCapacity {
      readerPaused = nil
      paused.resume()
    }
    if pushPausedForRoom, queue.count - queueHead < options.incomingCapacity {
      pushPausedForRoom = false
      resumePushReading()
    }
    return frame
  }

  /// Sends a frame: it is encoded at once and written with the other frames sent in the same turn of the event
  /// loop (one system call for a batch of answers); when 64 KiB are queued the call writes and waits for the
  /// socket until the transport holds less than its high-water mark (256 KiB for sockets), so a fast sender is
  /// slowed to the peer's pace with a bounded amount queued. ``flush()`` waits until everything is written.
  ///
  /// - Throws: ``ConnectionUsageError`` for frames RFC 6455 forbids now, or the transport's error.
  public func send(_ frame: Frame) async throws {
    // Enough is queued: write now, and make the sender wait for the socket (backpressure) until the transport has
    // less than its high-water mark queued (256 KiB for sockets); the rest goes out without the sender.
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
  /// ``takeQueuedFrameOnExecutorThread()``): `true` when the caller must then ``flush()`` (64 KiB are queued),
  /// `false` when it is done, `nil` when the caller is elsewhere (it then awaits ``send(_:)``).
  @usableFromInline
  nonisolated func sendOnExecutorThread(_ frame: Frame) throws -> Bool? {
    guard transport.isExecutorThread else { return nil }
    return try callIsolated({ connection, frame in try connection.enqueueOutgoing(frame) }, frame)
  }

  /// Encodes `frame` into the output and schedules the batch's write; returns whether the caller must flush (64 KiB
  /// are queued).
  private func enqueueOutgoing(_ frame: Frame) throws -> Bool {
    try machine.send(frame)
    let mustFlush = machine.outputCount >= Self.coalescingLimit
    if !mustFlush { scheduleFlush() }
    // The application answered the last message before the peer's close: the close reply can go now (in a task
    // of its own, so that this send does not wait for the end of the closing handshake).
    if deferredEnd != nil, queueHead == queue.count, frame.fin, !frame.frameType.isControl {
      Task(executorPreference: transport.taskExecutor) { await self.completeDeferredClose() }
    }
    return mustFlush
  }

  /// Bytes queued before ``send(_:)`` writes at once and waits for the socket: 64 KiB. Below it, frames sent in
  /// the same turn of the event loop (the answers to a batch of messages) go out together in one write.
  static let coalescingLimit = 64 * 1024

  /// Writes what is queued once the current jobs of the executor have run (the end of this batch), unless a
  /// write is already in progress (the writer drains the queue) or scheduled.
  private func scheduleFlush() {
    guard !flushScheduled, !writing, machine.checkHasOutput(), !transportClosed else { return }
    flushScheduled = true
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
    flushScheduled = false
    guard !writing, !transportClosed else { return nil }
    if let chunk = machine.takeQueuedChunk() { return chunk }
    guard machine.checkHasOutput() else { return nil }
    machine.takeOutput(into: &spareOutput)
    return spareOutput
  }

  /// Hands the queued output to the transport, which writes it in its own batch (no wait for the socket unless
  /// the transport's queue is full).
  private func runScheduledFlush() async {
    flushScheduled = false
    do {
      try await drainOutput(waitingForTransport: false)
    } catch {
      // The reader sees the same transport failure and ends the connection with it.
    }
  }

  /// Writes whatever is queued (frames sent, pongs, close frames) and returns once it is written (Ktor's `flush`).
  ///
  /// One task writes at a time (a transport takes one write at a time): a caller that finds a write in progress
  /// waits for the writer, which keeps writing until the queue is empty.
  public func flush() async throws {
    try await drainOutput(waitingForTransport: true)
  }

  private func drainOutput(waitingForTransport: Bool) async throws {
    guard !transportClosed else { return }
    if writing {
      guard machine.checkHasOutput() || waitingForTransport else { return }
      // When the writer finished before this caller could join it, the caller writes (and flushes) itself.
      if try await !waitForWriter() { try await drainOutput(waitingForTransport: waitingForTransport) }
      return
    }
    guard machine.checkHasOutput() || waitingForTransport else { return }
    writing = true
    var failure: (any Error)?
    do {
      while machine.checkHasOutput(), !transportClosed {
        // Swap buffers with the machine: the spare one keeps its capacity, so steady writes allocate nothing.
        if let chunk = machine.takeQueuedChunk() {
          // A large payload, by reference: no copy on the way to the socket.
          try await transport.write(chunk)
          continue
        }
        machine.takeOutput(into: &spareOutput)
        try await transport.write(spareOutput)
      }
      // Waiters may need the bytes on the socket: a waiting flush, or a waiter that joined this writer.
      if (waitingForTransport || !writeWaiters.isEmpty) && !transportClosed { try await transport.flush() }
    } catch {
      failure = error
    }
    writing = false
    let waiters = writeWaiters
    writeWaiters.removeAll()
    for waiter in waiters {
      if let failure {
        waiter.continuation.resume(throwing: failure)
      } else {
        waiter.continuation.resume(returning: true)
      }
    }
    if let failure { throw failure }
  }

  /// Waits for the task that is writing; a cancelled caller stops waiting (the writer goes on). Returns `false`
  /// when there was no writer any more by the time the wait began.
  private func waitForWriter() async throws -> Bool {
    nextWriteWaiter += 1
    let id = nextWriteWaiter
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
        if Task.isCancelled {
          continuation.resume(throwing: CancellationError())
        } else if !writing {
          continuation.resume(returning: false)
        } else {
          writeWaiters.append((id, continuation))
        }
      }
    } onCancel: {
      Task { await self.cancelWriteWaiter(id) }
    }
  }

  private func cancelWriteWaiter(_ id: UInt64) {
    guard let index = writeWaiters.firstIndex(where: { $0.id == id }) else { return }
    writeWaiters.remove(at: index).continuation.resume(throwing: CancellationError())
  }

  /// Starts the closing handshake with `reason`, waits (bounded by ``Options/closeTimeout``) for the peer's close
  /// frame, and closes the transport. Returns the connection's close reason.
  @discardableResult
  public func close(_ reason: CloseReason = CloseReason(.normal)) async -> CloseReason {
    startReaderIfNeeded()
    if deferredEnd != nil {
      await completeDeferredClose(reply: reason)
      return await closeReason
    }
    if outcome == nil, machine.close(reason) {
      try? await flush()
    }
    if outcome == nil {
      let timeout = options.closeTimeout
      let watchdog = Task {
        try await Task.sleep(for: timeout)
        await self.closeTransport(finishing: .success(self.machine.sentCloseReason ?? reason))
      }
      let result = await closeReason
      watchdog.cancel()
      return result
    }
    return await closeReason
  }

  /// Closes the transport at once, without a closing handshake (Ktor's `terminate()`): for a raw session whose
  /// handler returned, and for a server that stops after its grace period. The close reason becomes the close
  /// frame we sent, if any, else 1006.
  public func terminate() async {
    await closeTransport(finishing: .success(machine.sentCloseReason ?? machine.receivedCloseReason ?? failureReason))
  }

  /// Sends a ping and waits for the matching pong (default mode); returns the round-trip time.
  ///
  /// - Parameters:
  ///   - payload: at most 125 bytes; default 8 random bytes, so that the pong is matched to this ping.
  ///   - timeout: how long to wait for the pong. Default 10 s.
  /// - Throws: ``SessionError/pingTimeout(_:)`` when no pong came in time (the connection stays open),
  ///   ``ConnectionUsageError`` after close, or the connection's failure.
  public func ping(_ payload: [UInt8]? = nil, timeout: Duration = .seconds(10)) async throws -> Duration {
    let payload = payload ?? random.bytes(8)
    let frame = try Frame.ping(payload)
    startReaderIfNeeded()
    let started = ContinuousClock.now
    try await send(frame)
    let watchdog = Task {
      try await Task.sleep(for: timeout)
      self.failPingWaiter(payload, with: SessionError.pingTimeout(timeout))
    }
    defer { watchdog.cancel() }
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
      if let outcome {
        if case .failure(let error) = outcome {
          continuation.resume(throwing: error)
        } else {
          continuation.resume(throwing: ConnectionUsageError.alreadyClosed)
        }
        return
      }
      if unmatchedPong == payload {
        unmatchedPong = nil
        continuation.resume()
        return
      }
      pingWaiters.append((payload, continuation))
    }
    return ContinuousClock.now - started
  }

  private func failPingWaiter(_ payload: [UInt8], with error: any Error) {
    if let index = pingWaiters.firstIndex(where: { $0.payload == payload }) {
      pingWaiters.remove(at: index).continuation.resume(throwing: error)
    }
  }

  /// Whether the connection has closed (the transport is closed and ``closeReason`` is final).
  public var isClosed: Bool { outcome != nil }

  // MARK: Reader

  /// Starts reading (and pinging, when configured). ``receive()``, ``close(_:)`` start it too; a session whose
  /// application only sends calls it so that pongs and the peer's close are still answered.
  public func start() {
    startReaderIfNeeded()
  }

  private func startReaderIfNeeded() {
    guard !readerStarted else { return }
    readerStarted = true
    if let pushing = transport as? any ReadinessDrivenTransport {
      // The loop calls the connection when bytes arrive: no reader task to wake (docs/decisions/0008).
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
      resumePushReading()
    } else {
      // Isolated to the connection only. Preferring the loop as task executor too (a read that waits would resume
      // without passing through the global pool) lost wake-ups under load: see docs/decisions/0007.
      Task { await self.readLoop() }
    }
    if let interval = options.pingInterval, machine.configuration.mode == .default {
      let timeout = options.pingTimeout ?? interval * 2
      pinger = Task(executorPreference: transport.taskExecutor) {
        await self.runPinger(interval: interval, timeout: timeout)
      }
    }
  }

  /// Pings every `interval`; when the matching pong has not come back within `timeout`, closes with 1011
  /// "Ping timeout" (Ktor's behaviour) and fails the connection with ``SessionError/pingTimeout(_:)``.
  private func runPinger(interval: Duration, timeout: Duration) async {
    while outcome == nil {
      do { try await Task.sleep(for: interval) } catch { return }
      guard outcome == nil else { return }
      let payload = random.bytes(8)
      pendingPing = payload
      do { try await send(Frame.ping(payload)) } catch { return }
      let deadline = ContinuousClock.now + timeout
      while pendingPing != nil, outcome == nil, ContinuousClock.now < deadline {
        do { try await Task.sleep(for: min(timeout, .milliseconds(50))) } catch { return }
      }
      if pendingPing != nil, outcome == nil {
        if machine.close(CloseReason(.internalError, "Ping timeout")) { try? await flush() }
        await closeTransport(finishing: .failure(SessionError.pingTimeout(timeout)))
        return
      }
    }
  }

  // MARK: Push-mode reading

  /// Installs the push-mode handler, or resumes it, unless the queue is full or a task handles events.
  private func resumePushReading() {
    guard let pushTransport, outcome == nil, !pushPausedForRoom, !pushPausedForTask else { return }
    if pushStarted {
      pushTransport.resumeReading()
    } else {
      pushStarted = true
      pushTransport.startReading(
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

  /// Push mode: when a large payload is arriving, has the transport read it straight into the frame's storage (no
  /// copy through the transport's buffer); `nil` otherwise. Only when at least ``directReadThreshold`` bytes are
  /// outstanding, so that small frames still arrive many to a read.
  private func readPayloadDirectly(_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int? {
    guard outcome == nil else { return nil }
    return machine.fillPayload(ifOutstandingAtLeast: Self.directReadThreshold, read)
  }

  /// The outstanding payload, in bytes, from which ``readPayloadDirectly(_:)`` bypasses the transport's buffer:
  /// 64 KiB, the event loop's read buffer, below which one read into that buffer may also carry the frames behind.
  private static let directReadThreshold = 64 * 1024

  /// Push mode: runs what arrived through the state machine. Frames, pings and pongs are handled here, at once;
  /// an event that must wait (the close reply, a failure) and everything behind it go to a task, and reading
  /// pauses until it is done. Returns whether to keep reading.
  private func consume(_ event: TransportReadEvent) -> Bool {
    guard outcome == nil else { return false }
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
      if options.incomingOverflow == .suspend, queue.count - queueHead >= options.incomingCapacity {
        pushPausedForRoom = true
        return false
      }
      return true
    case .endOfStream:
      handleInTask(machine.receiveEndOfStream().map { [$0] } ?? [], ending: .endOfStream)
      return false
    case .failed(let error):
      handleInTask([], ending: .failure(error))
      return false
    }
  }

  /// How push-mode reading ended, if it did.
  private enum ReadEnding {
    case endOfStream
    case failure(any Error)
  }

  /// Handles `events` in order in a task of the connection, then ends the connection or resumes reading.
  private func handleInTask(_ events: [ConnectionEvent], ending: ReadEnding?) {
    pushPausedForTask = true
    Task(executorPreference: transport.taskExecutor) { await self.handleEvents(events, ending: ending) }
  }

  private func handleEvents(_ events: [ConnectionEvent], ending: ReadEnding?) async {
    do {
      for event in events where outcome == nil { try await handle(event) }
      scheduleFlush()
      switch ending {
      case .endOfStream?:
        if outcome == nil { await closeTransport(finishing: .success(closingReasonAtEOF())) }
      case .failure(let error)?:
        await closeTransport(finishing: .failure(error))
      case nil:
        break
      }
    } catch {
      await closeTransport(finishing: .failure(error))
    }
    pushPausedForTask = false
    if ending == nil { resumePushReading() }
  }

  /// The events handled without waiting: a frame for the queue, a ping (the machine queued the pong), a pong.
  private func handleSynchronously(_ event: ConnectionEvent) -> Bool {
    switch event {
    case .frame(let frame):
      if options.incomingOverflow == .fail, queue.count - queueHead >= options.incomingCapacity { return false }
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

  /// Queues an incoming frame, or hands it to the waiting ``receive()``.
  private func deliver(_ frame: Frame) {
    queue.append(frame)
    hasDelivered = true
    if let receiver {
      self.receiver = nil
      applicationHoldsMessage = true
      receiver.resume(returning: dequeue())
    }
  }

  private func pongArrived(_ payload: [UInt8]) {
    if payload == pendingPing { pendingPing = nil }
    if let index = pingWaiters.firstIndex(where: { $0.payload == payload }) {
      pingWaiters.remove(at: index).continuation.resume()
    } else {
      unmatchedPong = payload
    }
  }

  // MARK: Pull-mode reading

  private func readLoop() async {
    do {
      if !leftover.isEmpty {
        var events: [ConnectionEvent] = []
        leftover.withUnsafeBytes { buffer in
          var offset = 0
          while let event = machine.receive(buffer, offset: &offset) { events.append(event) }
        }
        leftover = []
        for event in events where outcome == nil { try await handle(event) }
        // Pongs the reader queued go out with the batch: the reader never waits for a write (two peers that both
        // write large messages would each wait for the other to read).
        scheduleFlush()
      }
      while outcome == nil {
        if options.incomingOverflow == .suspend, queue.count - queueHead >= options.incomingCapacity {
          await withUnsafeContinuation { continuation in
            // Checked again here: see `receive()`.
            if outcome != nil || queue.count - queueHead < options.incomingCapacity {
              continuation.resume()
            } else {
              readerPaused = continuation
            }
          }
          continue
        }
        var events: [ConnectionEvent] = []
        let open = try await transport.read { buffer -> Bool in
          if buffer.isEmpty {
            if let event = machine.receiveEndOfStream() { events.append(event) }
            return false
          }
          var offset = 0
          while let event = machine.receive(buffer, offset: &offset) { events.append(event) }
          return true
        }
        for event in events where outcome == nil { try await handle(event) }
        scheduleFlush()
        if !open && outcome == nil {
          await closeTransport(finishing: .success(closingReasonAtEOF()))
        }
      }
    } catch {
      await closeTransport(finishing: .failure(error))
    }
  }

  private func closingReasonAtEOF() -> CloseReason {
    machine.receivedCloseReason ?? (machine.state == .closed ? machine.closeReplyReason : failureReason)
  }

  private func handle(_ event: ConnectionEvent) async throws {
    switch event {
    case .frame(let frame):
      if options.incomingOverflow == .fail, queue.count - queueHead >= options.incomingCapacity {
        if machine.close(CloseReason(.violatedPolicy, "Incoming channel overflow")) { try? await flush() }
        await closeTransport(finishing: .failure(SessionError.incomingOverflow(options.incomingCapacity)))
        return
      }
      deliver(frame)
      if case .raw = machine.configuration.mode, frame.frameType == .close, machine.state == .closed {
        await closeTransport(finishing: .success(frame.readReason() ?? CloseReason(.noStatus)))
      }
    case .pong(let payload):
      pongArrived(payload)
    case .ping:
      break
    case .closeReceived(let reason):
      let finalReason = reason ?? CloseReason(.noStatus)
      if machine.state == .closingByPeer, machine.configuration.mode == .default,
        queueHead < queue.count || applicationHoldsMessage
      {
        // RFC 6455 section 5.5.1: an endpoint "MAY delay sending a Close frame until its current message is sent".
        // Messages that arrived before the close are unread or being handled: the application takes them (and
        // answers them, as an echo does) first; the reply goes out when it asks for more, answers the last one,
        // waits for the close reason, closes, or after a bounded delay: the close timeout while it reads, a moment
        // for a message being handled (its answer ends the wait at once), one second for an application that has
        // not read yet (it may never read).
        deferEnd(.closeReply(finalReason))
        return
      }
      try await completeClose(finalReason, reply: machine.closeReplyReason)
    case .failed(let violation):
      if machine.configuration.mode == .default, queueHead < queue.count || applicationHoldsMessage {
        // The same courtesy for a violation: the messages before it are answered, then the connection fails.
        deferEnd(.failure(violation))
        return
      }
      await fail(with: violation)
    case .closedWithoutCloseFrame:
      await closeTransport(
        finishing: .success(CloseReason(.abnormalClosure, "Connection was closed without close frame")))
    }
  }

  /// Answers the peer's close (unless we sent ours already) and ends the connection: a server closes TCP at once
  /// (RFC 6455 section 7.1.1: "the server ... SHOULD close the underlying TCP connection" first), a client waits a
  /// bounded time for the server to do so.
  private func completeClose(_ finalReason: CloseReason, reply: CloseReason) async throws {
    if machine.state == .closingByPeer {
      // The close frame goes behind the frames queued before it; flush writes them all.
      machine.close(reply)
      try await flush()
    }
    if machine.configuration.role == .server {
      await closeTransport(finishing: .success(finalReason))
    } else {
      await waitForServerClose(then: finalReason)
    }
  }

  /// How the connection ends once the application has taken the messages before the end.
  private enum DeferredEnd {
    /// The reply to the peer's close, which carried this reason.
    case closeReply(CloseReason)
    /// The failure for this violation of the peer.
    case failure(ProtocolViolation)
  }

  /// Waits (bounded) for the application to take and answer the messages that arrived before the end: until it
  /// asks for more, answers the last one, waits for the close reason, closes, or a delay passes (the close timeout
  /// while it reads, a moment for a message being handled, one second for an application that has not read yet).
  private func deferEnd(_ end: DeferredEnd) {
    deferredEnd = end
    let timeout: Duration
    if queueHead == queue.count {
      timeout = min(options.closeTimeout, .milliseconds(250))
    } else if applicationReads {
      timeout = options.closeTimeout
    } else {
      timeout = min(options.closeTimeout, .seconds(1))
    }
    deferredCloseWatchdog = Task {
      do { try await Task.sleep(for: timeout) } catch { return }
      await self.completeDeferredClose()
    }
  }

  /// Fails the connection: the violation's close frame goes behind what is queued, then the transport closes.
  private func fail(with violation: ProtocolViolation) async {
    machine.releaseFailureClose()
    try? await flush()
    await closeTransport(finishing: .failure(violation))
  }

  /// Ends the connection as deferred: the close reply (with `reply`, when the application closes), or the failure.
  private func completeDeferredClose(reply: CloseReason? = nil) async {
    guard let end = deferredEnd else { return }
    deferredEnd = nil
    deferredCloseWatchdog?.cancel()
    switch end {
    case .closeReply(let finalReason):
      do {
        try await completeClose(finalReason, reply: reply ?? machine.closeReplyReason)
      } catch {
        await closeTransport(finishing: .failure(error))
      }
    case .failure(let violation):
      await fail(with: violation)
    }
  }

  /// Client side of RFC 6455 section 7.1.1: wait a bounded time for the server to close TCP, then close it.
  private func waitForServerClose(then reason: CloseReason) async {
    let timeout = options.closeTimeout
    let watchdog = Task {
      try await Task.sleep(for: timeout)
      await self.closeTransport(finishing: .success(reason))
    }
    while outcome == nil {
      let eof = (try? await transport.read { $0.isEmpty }) ?? true
      if eof { break }
    }
    watchdog.cancel()
    await closeTransport(finishing: .success(reason))
  }

  private func closeTransport(finishing proposed: Result<CloseReason, any Error>) async {
    guard outcome == nil else { return }
    var result = proposed
    if case .failure(let violation)? = deferredEnd {
      // The transport ends (EOF, a timeout) while a failure waited for the application: the failure it is.
      deferredEnd = nil
      deferredCloseWatchdog?.cancel()
      machine.releaseFailureClose()
      result = .failure(violation)
    }
    outcome = result
    pinger?.cancel()
    if !transportClosed {
      transportClosed = true
      await transport.close()
    }
    if let receiver {
      self.receiver = nil
      if queueHead < queue.count {
        receiver.resume(returning: dequeue())
      } else {
        switch result {
        case .success: receiver.resume(returning: nil)
        case .failure(let error): receiver.resume(throwing: error)
        }
      }
    }
    if let paused = readerPaused {
      readerPaused = nil
      paused.resume()
    }
    let reason: CloseReason
    switch result {
    case .success(let value): reason = value
    case .failure: reason = failureReason
    }
    for waiter in closeWaiters { waiter.resume(returning: reason) }
    closeWaiters.removeAll()
    for waiter in pingWaiters { waiter.continuation.resume(throwing: ConnectionUsageError.alreadyClosed) }
    pingWaiters.removeAll()
  }
}
