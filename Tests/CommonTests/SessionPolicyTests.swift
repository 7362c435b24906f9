import Testing
import WispCommon

/// The session's rules on made-up instants: every deadline the policy keeps, and what each timer branch does.
@Suite("SessionPolicy (sans-I/O timing and ending rules)")
struct SessionPolicyTests {
  let start = ContinuousClock.now

  func at(_ offset: Duration) -> ContinuousClock.Instant { start.advanced(by: offset) }

  func policy(
    role: ConnectionStateMachine.Role = .client, mode: ConnectionStateMachine.Mode = .default,
    _ configure: (inout SessionPolicy.Settings) -> Void = { _ in }
  ) -> SessionPolicy {
    var settings = SessionPolicy.Settings(role: role, mode: mode)
    configure(&settings)
    return SessionPolicy(settings: settings, at: start)
  }

  @Test("without keepalive, a started session has no deadline at all")
  func noDeadlines() {
    var policy = policy()
    policy.started(at: start)
    #expect(policy.nextDeadline == nil)
    #expect(policy.timerFired(at: at(.seconds(3600))).isEmpty)
  }

  @Test("keepalive: the first ping is due one interval after the start, not before")
  func keepaliveFirstPing() {
    var policy = policy { $0.pingInterval = .seconds(10) }
    policy.started(at: start)
    #expect(policy.nextDeadline == at(.seconds(10)))
    #expect(policy.timerFired(at: at(.seconds(9))).isEmpty)
    #expect(policy.timerFired(at: at(.seconds(10))) == [.sendKeepalivePing])
    #expect(policy.nextDeadline == nil)
  }

  @Test("keepalive: the pong ends the wait; the next ping is due one interval after the last one went out")
  func keepalivePong() {
    var policy = policy { $0.pingInterval = .seconds(10) }
    policy.started(at: start)
    _ = policy.timerFired(at: at(.seconds(10)))
    let id = policy.pingSent(payload: [1, 2], at: at(.seconds(10)), timeout: nil, keepalive: true)
    // The default pong limit is twice the interval.
    #expect(policy.nextDeadline == at(.seconds(30)))
    // An unsolicited pong (another payload) answers nothing.
    #expect(policy.pongReceived(payload: [9], at: at(.seconds(11))) == nil)
    #expect(policy.nextDeadline == at(.seconds(30)))
    let match = policy.pongReceived(payload: [1, 2], at: at(.seconds(11)))
    #expect(match == SessionPolicy.PongMatch(id: id, keepalive: true, roundTrip: .seconds(1)))
    #expect(policy.nextDeadline == at(.seconds(20)))
    #expect(policy.timerFired(at: at(.seconds(20))) == [.sendKeepalivePing])
  }

  @Test("keepalive: no pong within the ping timeout is a keepalive timeout (the session closes with 1011)")
  func keepaliveTimeout() {
    var policy = policy {
      $0.pingInterval = .seconds(10)
      $0.pingTimeout = .seconds(3)
    }
    policy.started(at: start)
    _ = policy.timerFired(at: at(.seconds(10)))
    let id = policy.pingSent(payload: [7], at: at(.seconds(10)), timeout: nil, keepalive: true)
    #expect(policy.nextDeadline == at(.seconds(13)))
    #expect(policy.timerFired(at: at(.seconds(12))).isEmpty)
    #expect(policy.timerFired(at: at(.seconds(13))) == [.pingTimedOut(id: id, keepalive: true, limit: .seconds(3))])
    // No further keepalive ping is scheduled after a timeout: the session ends.
    #expect(policy.nextDeadline == nil)
  }

  @Test("leeway: a keepalive ping's deadline may be late by a sixteenth of the interval; a pong timeout is exact")
  func keepaliveLeeway() {
    var policy = policy {
      $0.pingInterval = .seconds(32)
      $0.pingTimeout = .seconds(3)
    }
    policy.started(at: start)
    #expect(policy.leewayNanos(forDeadline: policy.nextDeadlineNanos) == 2_000_000_000)
    _ = policy.timerFired(at: at(.seconds(32)))
    _ = policy.pingSent(payload: [7], at: at(.seconds(32)), timeout: nil, keepalive: true)
    // The pong's deadline: exact. At it the pong is overdue (the session reads what has arrived first).
    #expect(policy.nextDeadline == at(.seconds(35)))
    #expect(policy.leewayNanos(forDeadline: policy.nextDeadlineNanos) == 0)
    #expect(!policy.keepalivePongOverdue(atNanos: policy.nanos(at: at(.seconds(34)))))
    #expect(policy.keepalivePongOverdue(atNanos: policy.nanos(at: at(.seconds(35)))))
    #expect(policy.pongReceived(payload: [7], at: at(.seconds(35))) != nil)
    #expect(!policy.keepalivePongOverdue(atNanos: policy.nanos(at: at(.seconds(36)))))
    // Sub-second intervals keep exact pings (tests and chatty protocols rely on their rhythm).
    var fast = self.policy { $0.pingInterval = .milliseconds(500) }
    fast.started(at: start)
    #expect(fast.leewayNanos(forDeadline: fast.nextDeadlineNanos) == 0)
    // No deadline, no leeway.
    var none = self.policy()
    none.started(at: start)
    #expect(none.leewayNanos(forDeadline: none.nextDeadlineNanos) == 0)
  }

  @Test("a caller's ping times out on its own limit and schedules nothing else")
  func callerPingTimeout() {
    var policy = policy()
    policy.started(at: start)
    let id = policy.pingSent(payload: [2], at: start, timeout: .seconds(4), keepalive: false)
    #expect(policy.nextDeadline == at(.seconds(4)))
    #expect(policy.timerFired(at: at(.seconds(4))) == [.pingTimedOut(id: id, keepalive: false, limit: .seconds(4))])
    #expect(policy.nextDeadline == nil)
  }

  @Test("a caller's ping answered in time leaves no deadline")
  func callerPingAnswered() {
    var policy = policy()
    let id = policy.pingSent(payload: [1], at: start, timeout: .seconds(4), keepalive: false)
    #expect(
      policy.pongReceived(payload: [1], at: at(.seconds(1)))
        == SessionPolicy.PongMatch(id: id, keepalive: false, roundTrip: .seconds(1)))
    #expect(policy.nextDeadline == nil)
    // A ping without a time limit waits as long as the session lasts, and is still matched.
    let open = policy.pingSent(payload: [3], at: start, timeout: nil, keepalive: false)
    #expect(policy.nextDeadline == nil)
    #expect(policy.pongReceived(payload: [3], at: at(.seconds(60)))?.id == open)
  }

  @Test("raw sessions send no keepalive pings")
  func rawHasNoKeepalive() {
    var policy = policy(mode: .raw) { $0.pingInterval = .seconds(1) }
    policy.started(at: start)
    #expect(policy.nextDeadline == nil)
  }

  @Test("close timeout: the peer's close frame is due within closeTimeout of ours, then the transport closes")
  func closeTimeout() {
    var policy = policy { $0.closeTimeout = .seconds(5) }
    policy.closeSent(at: at(.seconds(1)))
    // A second close does not move the deadline.
    policy.closeSent(at: at(.seconds(3)))
    #expect(policy.nextDeadline == at(.seconds(6)))
    #expect(policy.timerFired(at: at(.seconds(5))).isEmpty)
    #expect(policy.timerFired(at: at(.seconds(6))) == [.closeTransport])
  }

  @Test("who closes TCP first: the server at once (RFC 6455 section 7.1.1)")
  func serverClosesFirst() {
    var policy = policy(role: .server)
    policy.closeSent(at: start)
    #expect(policy.closeHandshakeCompleted(at: at(.seconds(1))) == .closeNow)
    #expect(policy.nextDeadline == nil)
  }

  @Test("who closes TCP first: the client waits for the server, bounded by closeTimeout")
  func clientWaitsForServer() {
    var policy = policy(role: .client) { $0.closeTimeout = .seconds(2) }
    policy.closeSent(at: start)
    #expect(policy.closeHandshakeCompleted(at: at(.seconds(1))) == .awaitPeer(until: at(.seconds(3))))
    #expect(policy.nextDeadline == at(.seconds(3)))
    #expect(policy.timerFired(at: at(.seconds(3))) == [.closeTransport])
  }

  @Test("the close reply goes at once when the application has nothing before the close")
  func replyNow() {
    var policy = policy(role: .server)
    let timing = policy.endTiming(unreadMessages: 0, applicationHoldsMessage: false, applicationReads: true, at: start)
    #expect(timing == .now)
    #expect(policy.nextDeadline == nil)
  }

  @Test("deferred reply: 250 ms for a message being handled (RFC 6455 section 5.5.1 allows the delay)")
  func deferWhileHandling() {
    var policy = policy(role: .server)
    let timing = policy.endTiming(unreadMessages: 0, applicationHoldsMessage: true, applicationReads: true, at: start)
    #expect(timing == .deferred(until: at(.milliseconds(250))))
    #expect(policy.timerFired(at: at(.milliseconds(250))) == [.completeDeferredEnd])
  }

  @Test("deferred reply: the close timeout while the task handed the message has not run, then 250 ms")
  func deferUntilApplicationRuns() {
    var policy = policy(role: .server) { $0.closeTimeout = .seconds(7) }
    let timing = policy.endTiming(
      unreadMessages: 0, applicationHoldsMessage: true, applicationAwake: false, applicationReads: true, at: start)
    #expect(timing == .deferred(until: at(.seconds(7))))
    policy.applicationRan(at: at(.seconds(2)))
    #expect(policy.nextDeadline == at(.milliseconds(2250)))
    #expect(policy.timerFired(at: at(.milliseconds(2250))) == [.completeDeferredEnd])
  }

  @Test("deferred reply: the close timeout while the application reads unread messages")
  func deferWhileReading() {
    var policy = policy(role: .server) { $0.closeTimeout = .seconds(7) }
    let timing = policy.endTiming(unreadMessages: 3, applicationHoldsMessage: false, applicationReads: true, at: start)
    #expect(timing == .deferred(until: at(.seconds(7))))
  }

  @Test("deferred reply: 1 s for an application that has not read yet, and never beyond the close timeout")
  func deferForNonReader() {
    var policy = policy(role: .server)
    let timing = policy.endTiming(
      unreadMessages: 1, applicationHoldsMessage: false, applicationReads: false, at: start)
    #expect(timing == .deferred(until: at(.seconds(1))))
    var short = self.policy(role: .server) { $0.closeTimeout = .milliseconds(100) }
    let capped = short.endTiming(unreadMessages: 1, applicationHoldsMessage: true, applicationReads: false, at: start)
    #expect(capped == .deferred(until: at(.milliseconds(100))))
  }

  @Test("deferred reply: done early when the application answers; raw sessions never defer")
  func deferredCompletedAndRaw() {
    var policy = policy(role: .server)
    _ = policy.endTiming(unreadMessages: 1, applicationHoldsMessage: false, applicationReads: true, at: start)
    policy.deferredEndCompleted()
    #expect(policy.nextDeadline == nil)
    var raw = self.policy(role: .server, mode: .raw)
    #expect(raw.endTiming(unreadMessages: 5, applicationHoldsMessage: true, applicationReads: true, at: start) == .now)
  }

  @Test("incoming overflow: suspend reading by default, or close with 1008")
  func overflow() {
    #expect(policy().incomingOverflow() == .suspendReading)
    let failing = policy { $0.incomingOverflow = .fail }
    #expect(failing.incomingOverflow() == .fail(CloseReason(.violatedPolicy, "Incoming channel overflow")))
  }

  @Test("the end drops every deadline; a running handler is cancelled after the grace period")
  func endAndHandlerGrace() {
    var policy = policy(role: .server) {
      $0.pingInterval = .seconds(10)
      $0.handlerGrace = .seconds(1)
    }
    policy.started(at: start)
    policy.closeSent(at: start)
    _ = policy.pingSent(payload: [1], at: start, timeout: .seconds(3), keepalive: false)
    policy.ended(at: at(.seconds(2)), handlerRunning: true)
    #expect(policy.nextDeadline == at(.seconds(3)))
    #expect(policy.timerFired(at: at(.seconds(3))) == [.cancelHandler])
    #expect(policy.nextDeadline == nil)
  }

  @Test("a handler that returns in time is not cancelled; without a grace period it never is")
  func handlerFinishedOrNoGrace() {
    var policy = policy(role: .server)
    policy.ended(at: start, handlerRunning: true)
    policy.handlerFinished()
    #expect(policy.nextDeadline == nil)
    var noGrace = self.policy(role: .server) { $0.handlerGrace = nil }
    noGrace.ended(at: start, handlerRunning: true)
    #expect(noGrace.nextDeadline == nil)
  }

  @Test("a new ping interval takes effect at once: the next ping is due one new interval from the change")
  func updateInterval() {
    var policy = policy()
    policy.started(at: start)
    var settings = policy.settings
    settings.pingInterval = .seconds(4)
    policy.update(settings, at: at(.seconds(1)))
    #expect(policy.nextDeadline == at(.seconds(5)))
    settings.pingInterval = nil
    policy.update(settings, at: at(.seconds(2)))
    #expect(policy.nextDeadline == nil)
  }

  @Test("several deadlines due at once fire together, in a fixed order")
  func severalDue() {
    var policy = policy(role: .client) {
      $0.pingInterval = .seconds(1)
      $0.closeTimeout = .seconds(1)
    }
    policy.started(at: start)
    policy.closeSent(at: start)
    let id = policy.pingSent(payload: [3], at: start, timeout: .seconds(1), keepalive: false)
    #expect(
      policy.timerFired(at: at(.seconds(1))) == [
        .closeTransport, .pingTimedOut(id: id, keepalive: false, limit: .seconds(1)), .sendKeepalivePing,
      ])
  }
}
