/// The session's rules about time and about ending, sans-I/O: it keeps the deadlines, the session reports what
/// happens (a close sent, the peer's close, a ping, a pong, the end), and it answers with decisions and with the
/// ``Action``s that are due when the session's timer fires. It never waits and never reads a clock: every instant
/// comes from the caller (``WebSocketConnection`` reads its injected ``SessionClock``), so each rule is tested with
/// made-up instants.
///
/// Rules (each one in one place here):
/// - the deferred close reply and its bounds (`endTiming(unreadMessages:applicationHoldsMessage:applicationReads:at:)`);
/// - who closes TCP first (``closeHandshakeCompleted(at:)``);
/// - the close timeout (``closeSent(at:)``);
/// - pings: every ping that waits for its pong, keepalive or a caller's, is tracked here and only here (its payload,
///   when it went out, its deadline), so a pong is matched, its round trip measured and a late one timed out in one
///   place (``started(at:)``, ``pingSent(payload:at:timeout:keepalive:)``, ``pongReceived(payload:at:)``);
/// - incoming overflow (``incomingOverflow()``);
/// - the server handler's grace after the end (``ended(at:handlerRunning:)``).
package struct SessionPolicy: Sendable {
  /// Something the session must do now, because a deadline passed.
  package enum Action: Sendable, Hashable {
    /// Send a keepalive ping and report it with ``pingSent(payload:at:timeout:keepalive:)``.
    case sendKeepalivePing
    /// The ping `id` got no pong within `limit`. A keepalive ping closes the connection with 1011 "Ping timeout"
    /// (Ktor's behaviour) and fails it with ``WebSocketConnection/SessionError/pingTimeout(_:)``; a caller's
    /// ``WebSocketConnection/ping(_:timeout:)`` throws that error and the connection stays open.
    case pingTimedOut(id: UInt64, keepalive: Bool, limit: Duration)
    /// The end that waited for the application (the reply to the peer's close, or a violation's close frame) is
    /// due now.
    case completeDeferredEnd
    /// Close the transport: the peer did not answer our close frame in time, or (client) the server did not close
    /// TCP after the closing handshake. The connection ends with the close reason known so far.
    case closeTransport
    /// Cancel the server handler's task: the connection ended ``Settings/handlerGrace`` ago.
    case cancelHandler
  }

  /// When the end that the peer started (its close frame, or its violation) goes out.
  package enum EndTiming: Sendable, Hashable {
    /// Reply (or fail) now.
    case now
    /// Wait for the application to take and answer the messages that came before the end, at most until this
    /// instant (RFC 6455 section 5.5.1: an endpoint "MAY delay sending a Close frame until its current message is
    /// sent").
    case deferred(until: ContinuousClock.Instant)
  }

  /// Who closes TCP once close frames went both ways.
  package enum TransportCloser: Sendable, Hashable {
    /// This end, at once: the server ("the server ... SHOULD close the underlying TCP connection" first, RFC 6455
    /// section 7.1.1).
    case closeNow
    /// The peer: the client waits until this instant for the server to close TCP, then closes it itself ("the
    /// client SHOULD wait for the server to close the connection but MAY close the connection at any time after
    /// sending and receiving a Close message", RFC 6455 section 7.1.1).
    case awaitPeer(until: ContinuousClock.Instant)
  }

  /// What an incoming message does when the incoming queue is full.
  package enum OverflowDecision: Sendable, Hashable {
    /// Queue it and stop reading until the application takes one (backpressure).
    case suspendReading
    /// Close with this reason (1008) and fail with ``WebSocketConnection/SessionError/incomingOverflow(_:)``.
    case fail(CloseReason)
  }

  /// A ping that waits for its pong.
  private struct PendingPing: Sendable, Hashable {
    var id: UInt64
    /// The payload its pong must echo (RFC 6455 section 5.5.3: "A Pong frame sent in response to a Ping frame must
    /// have identical 'Application data'").
    var payload: [UInt8]
    /// When it went out, in nanoseconds from the policy's origin.
    var sentAt: Int64
    /// When the pong is late, in nanoseconds from the origin; ``SessionPolicy/none`` for a ping without a limit.
    var deadline: Int64
    var limit: Duration?
    var keepalive: Bool
  }

  /// A pong matched to its ping.
  package struct PongMatch: Sendable, Hashable {
    /// The ping's identifier (from ``SessionPolicy/pingSent(payload:at:timeout:keepalive:)``).
    package var id: UInt64
    /// Whether it was a keepalive ping (else a caller's).
    package var keepalive: Bool
    /// From the ping's departure to the pong's arrival.
    package var roundTrip: Duration

    /// Creates a match.
    package init(id: UInt64, keepalive: Bool, roundTrip: Duration) {
      self.id = id
      self.keepalive = keepalive
      self.roundTrip = roundTrip
    }
  }

  // Storage is compact: the policy lives inline in every connection, most of them idle. Durations and deadlines are
  // nanoseconds (deadlines from `origin`), with `Self.none` for "not set"; the properties below convert.
  private let origin: ContinuousClock.Instant
  private var stored: StoredSettings
  private var closeDeadlineNanos = Self.none
  private var transportCloseDeadlineNanos = Self.none
  private var deferredEndDeadlineNanos = Self.none
  private var nextKeepaliveNanos = Self.none
  private var handlerDeadlineNanos = Self.none
  private var pendingPings: [PendingPing] = []
  private var lastPingID: UInt64 = 0
  /// The deferred end waits for the application's task to run before its short wait starts.
  private var deferredUntilApplicationRuns = false
  private var hasEnded = false

  /// A policy with `settings`; `now` is the origin of its compact instants (any instant of the session's clock).
  package init(settings: Settings, at now: ContinuousClock.Instant) {
    self.origin = now
    self.stored = StoredSettings(settings)
  }

  /// The settings in force.
  package var settings: Settings { stored.settings }

  /// Our close frame went out: the peer's close frame is due by then.
  private var closeDeadline: ContinuousClock.Instant? {
    get { instant(closeDeadlineNanos) }
    set { closeDeadlineNanos = nanos(newValue) }
  }
  /// The client waits until then for the server to close TCP.
  private var transportCloseDeadline: ContinuousClock.Instant? {
    get { instant(transportCloseDeadlineNanos) }
    set { transportCloseDeadlineNanos = nanos(newValue) }
  }
  /// The end that waits for the application is due then.
  private var deferredEndDeadline: ContinuousClock.Instant? {
    get { instant(deferredEndDeadlineNanos) }
    set { deferredEndDeadlineNanos = nanos(newValue) }
  }
  /// The next keepalive ping is due then (`nil` while one waits for its pong, or without keepalive).
  private var nextKeepalive: ContinuousClock.Instant? {
    get { instant(nextKeepaliveNanos) }
    set { nextKeepaliveNanos = nanos(newValue) }
  }
  /// The handler's task is cancelled then.
  private var handlerDeadline: ContinuousClock.Instant? {
    get { instant(handlerDeadlineNanos) }
    set { handlerDeadlineNanos = nanos(newValue) }
  }

  static let none = Int64.min

  private func instant(_ nanos: Int64) -> ContinuousClock.Instant? {
    nanos == Self.none ? nil : origin.advanced(by: .nanoseconds(nanos))
  }

  private func nanos(_ instant: ContinuousClock.Instant?) -> Int64 {
    guard let instant else { return Self.none }
    return Self.nanoseconds(origin.duration(to: instant))
  }

  /// The earliest deadline, when the session's timer should fire next; `nil` when nothing is due ever.
  package var nextDeadline: ContinuousClock.Instant? { instant(nextDeadlineNanos) }

  /// ``nextDeadline`` in nanoseconds from the policy's origin (``none``: nothing is due ever), for the session's
  /// timer: it is read after every event of a keepalive round, and `ContinuousClock.Instant` is a resilient type
  /// (its optionals and comparisons go through the runtime's value witnesses).
  package var nextDeadlineNanos: Int64 {
    var earliest = Self.none
    func consider(_ deadline: Int64) {
      if deadline != Self.none && (earliest == Self.none || deadline < earliest) { earliest = deadline }
    }
    consider(closeDeadlineNanos)
    consider(transportCloseDeadlineNanos)
    consider(deferredEndDeadlineNanos)
    consider(nextKeepaliveNanos)
    consider(handlerDeadlineNanos)
    for ping in pendingPings { consider(ping.deadline) }
    return earliest
  }

  /// Whether a keepalive ping's pong is overdue at `now` (nanoseconds from the origin): the next ``timerFired(atNanos:)``
  /// would time it out. The session first reads what has arrived (``CatchingUpTransport``).
  package func keepalivePongOverdue(atNanos now: Int64) -> Bool {
    pendingPings.contains { $0.keepalive && $0.deadline != Self.none && $0.deadline <= now }
  }

  /// How late the session's timer may fire for `deadline` (a ``nextDeadlineNanos``), in nanoseconds: a sixteenth of
  /// the ping interval when it is the next keepalive ping's (intervals of a second or more), else 0 (exact, but for
  /// the clock's own slack). A keepalive interval is a period, not an appointment: with the leeway the pings of
  /// sessions due within a second of each other go out on one wake-up of their event loop, where a wake-up per
  /// ping was two thirds of the ping's cost at a million sessions (issue 34, decision 0032).
  package func leewayNanos(forDeadline deadline: Int64) -> Int64 {
    guard deadline != Self.none, deadline == nextKeepaliveNanos, stored.pingInterval >= 1_000_000_000 else { return 0 }
    return stored.pingInterval / 16
  }

  /// The instant of `nanos` nanoseconds from the policy's origin (a deadline of ``nextDeadlineNanos``).
  package func instant(atNanos nanos: Int64) -> ContinuousClock.Instant {
    origin.advanced(by: .nanoseconds(nanos))
  }

  /// `instant` in nanoseconds from the policy's origin.
  package func nanos(at instant: ContinuousClock.Instant) -> Int64 {
    Self.nanoseconds(origin.duration(to: instant))
  }

  // MARK: Events

  /// The connection is open and reading: the first keepalive ping is due one interval from `now`.
  package mutating func started(at now: ContinuousClock.Instant) {
    scheduleKeepalive(after: now)
  }

  /// Changes the settings; a new ping interval takes effect at once (the next keepalive ping is due one new
  /// interval from `now`, unless one is waiting for its pong).
  package mutating func update(_ newSettings: Settings, at now: ContinuousClock.Instant) {
    let intervalChanged = newSettings.pingInterval != settings.pingInterval
    stored = StoredSettings(newSettings)
    if intervalChanged && !pendingPings.contains(where: \.keepalive) {
      nextKeepalive = nil
      scheduleKeepalive(after: now)
    }
  }

  /// A ping goes out with `payload` (a keepalive one after ``Action/sendKeepalivePing``, or a caller's): returns its
  /// identifier. Its pong is due within `timeout` (a keepalive ping: ``Settings/pingTimeout``, else twice the
  /// interval); a caller's ping without a timeout waits for its pong as long as the session lasts.
  package mutating func pingSent(
    payload: [UInt8], at now: ContinuousClock.Instant, timeout: Duration?, keepalive: Bool
  ) -> UInt64 {
    lastPingID &+= 1
    guard !hasEnded else { return lastPingID }
    let limit = timeout ?? (keepalive ? stored.keepaliveTimeout : nil)
    if keepalive { nextKeepaliveNanos = Self.none }
    let sentAt = nanos(at: now)
    pendingPings.append(
      PendingPing(
        id: lastPingID, payload: payload, sentAt: sentAt,
        deadline: limit.map { Self.saturatingSum(sentAt, Self.nanoseconds($0)) } ?? Self.none, limit: limit,
        keepalive: keepalive))
    return lastPingID
  }

  /// The ping `id` did not go out after all (its frame could not be sent): it waits for nothing.
  package mutating func pingAbandoned(_ id: UInt64) {
    pendingPings.removeAll { $0.id == id }
  }

  /// A pong arrived: the oldest ping waiting with the same payload is answered (its deadline dropped; after a
  /// keepalive pong the next keepalive ping is due one interval after the ping went out, at once if that has
  /// passed). `nil` for an unsolicited pong ("A Pong frame MAY be sent unsolicited", RFC 6455 section 5.5.3).
  package mutating func pongReceived(payload: [UInt8], at now: ContinuousClock.Instant) -> PongMatch? {
    guard let index = pendingPings.firstIndex(where: { $0.payload == payload }) else { return nil }
    let ping = pendingPings.remove(at: index)
    if ping.keepalive { scheduleKeepalive(afterNanos: ping.sentAt) }
    return PongMatch(id: ping.id, keepalive: ping.keepalive, roundTrip: .nanoseconds(nanos(at: now) - ping.sentAt))
  }

  /// Our close frame went out: the peer's close frame is due within the close timeout.
  package mutating func closeSent(at now: ContinuousClock.Instant) {
    guard !hasEnded, closeDeadline == nil else { return }
    closeDeadline = now.advanced(by: settings.closeTimeout)
  }

  /// The peer's close frame (or a violation of the peer) arrived. In a default session, when messages that came
  /// before it are unread or being handled, the reply waits for the application, bounded: the close timeout while
  /// the application reads, 250 ms for a message being handled (its answer ends the wait at once) once the
  /// application runs, the close timeout while the task it was handed to has not run yet (a busy scheduler must
  /// not cost the answer), 1 s for an application that has not read yet (it may never read). Raw sessions reply
  /// themselves: ``EndTiming/now``.
  package mutating func endTiming(
    unreadMessages: Int, applicationHoldsMessage: Bool, applicationAwake: Bool = true, applicationReads: Bool,
    at now: ContinuousClock.Instant
  ) -> EndTiming {
    guard settings.mode == .default, unreadMessages > 0 || applicationHoldsMessage else { return .now }
    let delay: Duration
    if unreadMessages == 0 {
      delay = applicationAwake ? min(settings.closeTimeout, .milliseconds(250)) : settings.closeTimeout
    } else if applicationReads {
      delay = settings.closeTimeout
    } else {
      delay = min(settings.closeTimeout, .seconds(1))
    }
    let deadline = now.advanced(by: delay)
    deferredEndDeadline = deadline
    deferredUntilApplicationRuns = unreadMessages == 0 && !applicationAwake
    return .deferred(until: deadline)
  }

  /// The application's task ran after it was handed the message it holds: a deferred end that waited for that
  /// is due 250 ms from now (or at its earlier deadline).
  package mutating func applicationRan(at now: ContinuousClock.Instant) {
    guard deferredUntilApplicationRuns, let deadline = deferredEndDeadline else { return }
    deferredUntilApplicationRuns = false
    deferredEndDeadline = min(deadline, now.advanced(by: min(settings.closeTimeout, .milliseconds(250))))
  }

  /// The deferred end went out (the application took its messages, closed, or the deadline passed).
  package mutating func deferredEndCompleted() {
    deferredEndDeadline = nil
  }

  /// Close frames went both ways: the server closes TCP now, the client waits (bounded) for the server to.
  package mutating func closeHandshakeCompleted(at now: ContinuousClock.Instant) -> TransportCloser {
    closeDeadline = nil
    switch settings.role {
    case .server:
      return .closeNow
    case .client:
      let deadline = transportCloseDeadline ?? now.advanced(by: settings.closeTimeout)
      transportCloseDeadline = deadline
      return .awaitPeer(until: deadline)
    }
  }

  /// What a message does that arrives while the incoming queue holds ``Settings/incomingCapacity`` of them.
  /// The outgoing queue's bound in frames (`Int32.max`: none) and what a send beyond it does.
  package var outgoingLimit: (capacity: Int32, overflow: WebSocketConnection.Options.Overflow) {
    (stored.outgoingCapacity, stored.outgoingOverflow)
  }

  package func incomingOverflow() -> OverflowDecision {
    switch stored.incomingOverflow {
    case .suspend: .suspendReading
    case .fail: .fail(CloseReason(.violatedPolicy, "Incoming channel overflow"))
    }
  }

  /// The connection ended (the transport is closed): every deadline is dropped; a server handler that still runs
  /// is cancelled after ``Settings/handlerGrace``.
  package mutating func ended(at now: ContinuousClock.Instant, handlerRunning: Bool) {
    hasEnded = true
    closeDeadline = nil
    transportCloseDeadline = nil
    deferredEndDeadline = nil
    nextKeepalive = nil
    pendingPings.removeAll()
    if handlerRunning, let grace = settings.handlerGrace { handlerDeadline = now.advanced(by: grace) }
  }

  /// The server handler returned: it needs no cancelling.
  package mutating func handlerFinished() {
    handlerDeadline = nil
  }

  /// The actions due at `now`, each deadline that passed dropped; call when the timer fires.
  package mutating func timerFired(at now: ContinuousClock.Instant) -> [Action] {
    timerFired(atNanos: nanos(at: now))
  }

  /// ``timerFired(at:)`` with `now` in nanoseconds from the policy's origin.
  package mutating func timerFired(atNanos now: Int64) -> [Action] {
    func due(_ deadline: Int64) -> Bool { deadline != Self.none && deadline <= now }
    var actions: [Action] = []
    if due(handlerDeadlineNanos) {
      handlerDeadlineNanos = Self.none
      actions.append(.cancelHandler)
    }
    guard !hasEnded else { return actions }
    if due(deferredEndDeadlineNanos) {
      deferredEndDeadlineNanos = Self.none
      actions.append(.completeDeferredEnd)
    }
    if due(closeDeadlineNanos) {
      closeDeadlineNanos = Self.none
      actions.append(.closeTransport)
    } else if due(transportCloseDeadlineNanos) {
      transportCloseDeadlineNanos = Self.none
      actions.append(.closeTransport)
    }
    if pendingPings.contains(where: { due($0.deadline) }) {
      for ping in pendingPings where due(ping.deadline) {
        actions.append(.pingTimedOut(id: ping.id, keepalive: ping.keepalive, limit: ping.limit ?? .zero))
      }
      pendingPings.removeAll { due($0.deadline) }
    }
    if due(nextKeepaliveNanos) {
      nextKeepaliveNanos = Self.none
      actions.append(.sendKeepalivePing)
    }
    return actions
  }

  private mutating func scheduleKeepalive(after instant: ContinuousClock.Instant) {
    scheduleKeepalive(afterNanos: nanos(at: instant))
  }

  private mutating func scheduleKeepalive(afterNanos start: Int64) {
    guard !hasEnded, stored.mode == .default, stored.pingInterval != Self.none else {
      nextKeepaliveNanos = Self.none
      return
    }
    nextKeepaliveNanos = Self.saturatingSum(start, stored.pingInterval)
  }

  /// `a + b` for nanosecond instants and durations, at most `Int64.max` (a deadline that never comes).
  private static func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? (b > 0 ? Int64.max : Self.none + 1) : sum
  }
}
