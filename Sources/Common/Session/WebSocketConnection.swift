import CoreMetrics
import Synchronization

/// Runs a `ConnectionStateMachine` over a ``Transport``: the engine under the default and raw sessions of both
/// roles (the Ktor-style session types wrap it).
///
/// It is an actor on the transport's executor (the event loop that owns the socket), so the bytes go from the
/// socket through the state machine into ``receive()`` on one thread. Its state is a few values, each in a file of
/// its own: the `SessionInbox` (frames for the application), the `SessionReadDriver` (one read path), the
/// `SessionWriteState` (batched writes), the `SessionLifecycle` (open to ended) and the `PingWaiters`. Its
/// rules about time and ending are decided by the sans-I/O `SessionPolicy` on the injected ``SessionClock``;
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
  nonisolated let executor: UnownedSerialExecutor
  /// Whether the connection has not ended yet, without waiting (Ktor's `isActive`; `closeReason.isActive`).
  public nonisolated var isActive: Bool { !endedFlag.load(ordering: .acquiring) }

  /// Records the end for ``isActive``.
  func markEnded() { endedFlag.store(true, ordering: .releasing) }

  // The stored state is `@exclusivity(unchecked)`: the actor already serializes every access, so the dynamic checks
  // the compiler would add guard nothing and cost on every message (docs/decisions/0009). The state is internal to
  // the module so that the actor's extensions (`+Receiving`, `+Sending`, `+Reading`, `+Closing`, `+Timers`) reach it;
  // nothing outside `Session/` touches it.
  // The one-byte and four-byte fields right after the machine, in its tail padding (a class's fields are laid out
  // in the order written; memory per idle session, issue 34).
  @exclusivity(unchecked) var machine: ConnectionStateMachine
  /// Set once when the connection ends, readable from any thread (``isActive``, Ktor's `closeReason.isActive`).
  nonisolated let endedFlag = Atomic<Bool>(false)
  @exclusivity(unchecked) var reader = SessionReadDriver()
  @exclusivity(unchecked) var inbox: SessionInbox
  @exclusivity(unchecked) var writer = SessionWriteState()
  @exclusivity(unchecked) var lifecycle = SessionLifecycle()
  @exclusivity(unchecked) var pingWaiters = PingWaiters()
  /// Data messages and bytes carried so far (``traffic``).
  @exclusivity(unchecked) var trafficCounts = SessionTraffic()
  @exclusivity(unchecked) var policy: SessionPolicy
  /// Bytes that arrived behind the handshake's head in the same read; handled before the first read.
  @exclusivity(unchecked) var leftover: [UInt8]
  /// The one timer, armed for the policy's next deadline (``armTimer()``); disarmed while nothing is due.
  @exclusivity(unchecked) var timer = SessionTimer()
  /// The server handler's task while it runs (``handlerStarted()``), for its cancellation after the grace period.
  /// Set and cleared on this actor by the task itself, so it is never used after the task ends.
  @exclusivity(unchecked) var handlerTask: UnsafeCurrentTask?
  let clock: any SessionClock
  /// Where the ping round trips go (``Options/metricsFactory``); `nil`: the process's metrics system.
  var metricsFactory: (any MetricsFactory)? { metricsFactoryBox?.factory }
  /// ``metricsFactory`` in a box, allocated only when one is set: an existential is five words in every connection,
  /// most of which have none (memory per idle session, issue 34).
  private let metricsFactoryBox: MetricsFactoryBox?

  /// Creates a connection over an open transport (after a successful opening handshake).
  ///
  /// - Parameters:
  ///   - transport: the open transport; the connection adopts its executor.
  ///   - configuration: the state machine's role, mode and limits.
  ///   - options: the session's incoming queue, close timeout, pings and clock.
  ///   - leftover: bytes read together with the handshake's head that belong to the WebSocket stream (a peer may
  ///     send its first frames right behind the handshake).
  ///   - extensions: the extensions the handshake negotiated.
  ///   - random: the source of masking keys and ping payloads.
  ///   - recycler: spare buffers for large payloads, shared with the transport that hands written ones back.
  ///     Default: the process's `LargeBufferRecycler.shared`.
  package init(
    transport: any Transport, configuration: ConnectionStateMachine.Configuration, options: Options = Options(),
    leftover: [UInt8] = [], extensions: [any WebSocketExtension] = [],
    random: any SecureRandomSource = SystemSecureRandom(), recycler: LargeBufferRecycler? = .shared
  ) {
    self.leftover = leftover
    self.transport = transport
    self.executor = transport.executor
    self.extensions = extensions
    self.machine = ConnectionStateMachine(
      configuration: configuration, extensions: extensions, random: random, recycler: recycler,
      pool: (transport as? any PayloadPoolProviding)?.payloadPool)
    // A violation's close frame waits (bounded) for the answers to the messages that came before it.
    self.machine.holdsFailureClose = true
    self.inbox = SessionInbox(capacity: max(1, options.incomingCapacity))
    let settings = SessionPolicy.Settings(role: configuration.role, mode: configuration.mode, session: options.settings)
    self.metricsFactoryBox = options.metricsFactory.map(MetricsFactoryBox.init)
    let clock = options.clock ?? transport.sessionClock ?? SystemSessionClock.shared
    self.clock = clock
    self.policy = SessionPolicy(settings: settings, at: clock.now)
    self.writer.countsFrames = settings.outgoingCapacity != .max
  }

  /// Creates a connection whose state machine and policy both come from `settings` (the plugins' value): the frame
  /// and message limits and masking for the machine, pings, timeouts and the incoming queue for the policy.
  package init(
    transport: any Transport, role: ConnectionStateMachine.Role, mode: ConnectionStateMachine.Mode,
    settings: SessionSettings, clock: (any SessionClock)? = nil, metricsFactory: (any MetricsFactory)? = nil,
    leftover: [UInt8] = [], extensions: [any WebSocketExtension] = [],
    random: any SecureRandomSource = SystemSecureRandom()
  ) {
    var options = Options()
    options.settings = settings
    options.clock = clock
    options.metricsFactory = metricsFactory
    self.init(
      transport: transport,
      configuration: .init(
        role: role, mode: mode, maxFrameSize: settings.maxFrameSize, maxMessageSize: settings.maxMessageSize,
        masksOutgoingFrames: settings.masking),
      options: options, leftover: leftover, extensions: extensions, random: random)
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
      return await waitOnTransportExecutor {
        await withCheckedContinuation { continuation in
          if let reason = finalReason() {
            continuation.resume(returning: reason)
          } else {
            lifecycle.closeWaiters.append(continuation)
          }
        }
      }
    }
  }

  /// Whether the connection has closed (the transport is closed and ``closeReason`` is final).
  public var isClosed: Bool { lifecycle.hasEnded() }

  /// The data messages and payload bytes carried so far, in each direction.
  public var traffic: SessionTraffic { trafficCounts }

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

  func apply(_ settings: RuntimeSettings) {
    machine.setMaxFrameSize(settings.maxFrameSize)
    machine.setMasksOutgoingFrames(settings.masking)
    var policySettings = policy.settings
    policySettings.pingInterval = settings.pingInterval
    policySettings.pingTimeout = settings.pingTimeout
    policySettings.closeTimeout = settings.closeTimeout
    policy.update(policySettings, at: clock.now)
    armTimer()
  }

  func finalReason() -> CloseReason? {
    switch lifecycle.outcome() {
    case .success(let reason)?: reason
    case .failure?: failureReason
    case nil: nil
    }
  }

  var failureReason: CloseReason {
    machine.sentCloseReason ?? CloseReason(.abnormalClosure, "Connection was closed without close frame")
  }

  /// The error for a call made after the end.
  func closedError() -> ConnectionClosedError {
    switch lifecycle.outcome() {
    case .failure(let error)?: ConnectionClosedError(reason: failureReason, failure: error)
    case .success(let reason)?: ConnectionClosedError(reason: reason)
    case nil: ConnectionClosedError(reason: failureReason)
    }
  }

}

/// A metrics factory behind one reference (``WebSocketConnection/metricsFactory``).
private final class MetricsFactoryBox: Sendable {
  let factory: any MetricsFactory

  init(_ factory: any MetricsFactory) { self.factory = factory }
}
