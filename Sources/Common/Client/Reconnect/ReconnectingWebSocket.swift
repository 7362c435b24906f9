import Synchronization

/// A client connection that comes back: when the session ends (the server restarts, the network drops), it
/// connects again after a delay from its ``ReconnectPolicy``, runs the connect hook (to authenticate, to
/// resubscribe), and carries on. Messages from every session arrive on one ``incoming`` stream; what happens is
/// told on ``states``.
///
/// ```swift
/// let socket = ReconnectingWebSocket(client: client, url: "wss://example.com/feed") { session in
///   try await session.send("subscribe prices")
/// }
/// Task { for await state in socket.states { print(state) } }
/// for await frame in socket.incoming { ... }
/// ```
public final class ReconnectingWebSocket: Sendable {
  /// Where the connection stands.
  public enum State: Sendable, Hashable, CustomStringConvertible {
    /// Connecting; `attempt` counts from 1 since the last connection (or the start).
    case connecting(attempt: Int)
    /// Connected, and the connect hook has run.
    case connected
    /// Waiting `delay` before the next attempt, after `failures` failures in a row (a session that ended counts as
    /// one).
    case waiting(delay: Duration, failures: Int)
    /// Over: ``ReconnectingWebSocket/close()`` was called, the server closed with a code the policy does not
    /// retry, an error the policy does not retry, or ``ReconnectPolicy/maxAttempts`` ran out.
    case closed(reason: String)

    /// The state in words.
    public var description: String {
      switch self {
      case .connecting(let attempt): "connecting (attempt \(attempt))"
      case .connected: "connected"
      case .waiting(let delay, let failures): "reconnecting in \(delay) (\(failures) failed in a row)"
      case .closed(let reason): "closed: \(reason)"
      }
    }
  }

  private struct Shared {
    var session: DefaultClientWebSocketSession?
    var buffer: [Frame] = []
    var closed = false
    var offsets: [String: TopicOffset] = [:]
  }

  /// The policy.
  public let policy: ReconnectPolicy
  /// Every state in order, from `connecting(attempt: 1)` to `closed` (the last 64 kept for a slow reader).
  public let states: AsyncStream<State>
  /// Every message of every session, in order (at most the newest 1024 kept for a slow reader).
  public let incoming: AsyncStream<Frame>
  private let stateContinuation: AsyncStream<State>.Continuation
  private let incomingContinuation: AsyncStream<Frame>.Continuation
  private let shared = Mutex(Shared())
  private let runner = Mutex<Task<Void, Never>?>(nil)
  private let tracking: TopicOffsetTracking?

  /// The offset of the last message received of each topic (with ``TopicOffsetTracking``; empty without).
  public var offsets: [String: TopicOffset] { shared.withLock { $0.offsets } }

  /// Starts connecting to `url` with `client`.
  ///
  /// - Parameters:
  ///   - client: the client whose engine and plugin settings each connection uses.
  ///   - url: the `ws://` or `wss://` URL to connect to.
  ///   - policy: the backoff between attempts and which ends are retried (``ReconnectPolicy``; default 0.5 s to 30 s).
  ///   - request: configures each connection's request (headers, TLS, proxy), as for `webSocketSession`.
  ///   - onConnect: runs on each new session before buffered messages are sent and before it counts as
  ///     ``State/connected`` (authenticate, resubscribe); a throw ends that session and counts as a failure.
  public convenience init(
    client: HttpClient, url: String, policy: ReconnectPolicy = ReconnectPolicy(),
    onConnect: @escaping @Sendable (DefaultClientWebSocketSession) async throws -> Void = { _ in },
    request: @escaping @Sendable (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) {
    self.init(client: client, url: url, policy: policy, tracking: nil, onConnect: onConnect) { builder, _ in
      try request(&builder)
    }
  }

  /// Starts connecting to `url` with `client`, keeping each topic's last offset from what arrives (`offsets`) and
  /// handing them to `request` for every connection, so that the server resumes each topic after its last message.
  ///
  /// ```swift
  /// let socket = ReconnectingWebSocket(
  ///   client: client, url: "ws://chat.example:8080/lobby", offsets: .offsetPrefixed(topic: "/lobby")
  /// ) { request, offsets in
  ///   request.parameter("since", offsets["/lobby"]?.description ?? "")
  /// }
  /// ```
  ///
  /// - Parameters:
  ///   - client: the client whose engine and plugin settings each connection uses.
  ///   - url: the `ws://` or `wss://` URL to connect to (`request` may change it for each connection).
  ///   - policy: the backoff between attempts and which ends are retried (``ReconnectPolicy``).
  ///   - offsets: how to read offsets from frames (``TopicOffsetTracking/offsetPrefixed(topic:)`` for `ws serve`).
  ///   - onConnect: runs on each new session before buffered messages are sent (as for the other initializer).
  ///   - request: configures each connection's request, given the offsets so far (empty on the first one).
  public convenience init(
    client: HttpClient, url: String, policy: ReconnectPolicy = ReconnectPolicy(), offsets: TopicOffsetTracking,
    onConnect: @escaping @Sendable (DefaultClientWebSocketSession) async throws -> Void = { _ in },
    request: @escaping @Sendable (inout HttpRequestBuilder, [String: TopicOffset]) throws -> Void
  ) {
    self.init(client: client, url: url, policy: policy, tracking: offsets, onConnect: onConnect, request: request)
  }

  private init(
    client: HttpClient, url: String, policy: ReconnectPolicy, tracking: TopicOffsetTracking?,
    onConnect: @escaping @Sendable (DefaultClientWebSocketSession) async throws -> Void,
    request: @escaping @Sendable (inout HttpRequestBuilder, [String: TopicOffset]) throws -> Void
  ) {
    self.policy = policy
    self.tracking = tracking
    (states, stateContinuation) = AsyncStream.makeStream(of: State.self, bufferingPolicy: .bufferingNewest(64))
    (incoming, incomingContinuation) = AsyncStream.makeStream(of: Frame.self, bufferingPolicy: .bufferingNewest(1024))
    let task = Task { [self] in await run(client: client, url: url, request: request, onConnect: onConnect) }
    runner.withLock { $0 = task }
  }

  /// Sends `frame` on the current session; while disconnected (including a session that has just ended), keeps it
  /// for the next session (up to ``ReconnectPolicy/sendBufferLimit``).
  ///
  /// A message handed to a session whose connection breaks afterwards may be lost with it: delivery is at most
  /// once, as with any WebSocket without acknowledgements of its own.
  ///
  /// - Throws: ``ReconnectingWebSocketError`` when disconnected and the buffer is off or full, or closed; the
  ///   session's error when the send fails otherwise.
  public func send(_ frame: Frame) async throws {
    guard let session = try keepUnlessConnected(frame) else { return }
    do {
      try await session.send(frame)
    } catch is ConnectionClosedError {
      // The session had ended before this message went in: nothing of it was sent. Keep it for the next one.
      shared.withLock { if $0.session === session { $0.session = nil } }
      _ = try keepUnlessConnected(frame)
    }
  }

  /// The session to send on, or `nil` when `frame` was kept for the next one.
  private func keepUnlessConnected(_ frame: Frame) throws(ReconnectingWebSocketError) -> DefaultClientWebSocketSession?
  {
    try shared.withLock { shared throws(ReconnectingWebSocketError) -> DefaultClientWebSocketSession? in
      if shared.closed { throw .closed }
      if let session = shared.session { return session }
      guard policy.sendBufferLimit > 0 else { throw .notConnected }
      guard shared.buffer.count < policy.sendBufferLimit else { throw .sendBufferFull(limit: policy.sendBufferLimit) }
      shared.buffer.append(frame)
      return nil
    }
  }

  /// Sends a text message (see ``send(_:)-(Frame)``).
  public func send(_ text: String) async throws { try await send(.text(text)) }

  /// Stops: closes the current session with 1000 and does not reconnect; ``states`` ends with `closed`.
  public func close() async {
    let (session, task) = shared.withLock { shared in
      shared.closed = true
      return (shared.session, runner.withLock { $0 })
    }
    if let session { _ = try? await session.close(CloseReason(.normal)) }
    task?.cancel()
    await task?.value
  }

  private func run(
    client: HttpClient, url: String,
    request: @escaping @Sendable (inout HttpRequestBuilder, [String: TopicOffset]) throws -> Void,
    onConnect: @escaping @Sendable (DefaultClientWebSocketSession) async throws -> Void
  ) async {
    var failures = 0
    var generator = SystemRandomNumberGenerator()
    defer {
      stateContinuation.finish()
      incomingContinuation.finish()
    }
    while true {
      if shared.withLock({ $0.closed }) || Task.isCancelled { return finish("closed by the application") }
      stateContinuation.yield(.connecting(attempt: failures + 1))
      do {
        let offsets = shared.withLock { $0.offsets }
        let session = try await client.webSocketSession(url) { try request(&$0, offsets) }
        do {
          try await onConnect(session)
          // Buffered messages go out after the hook, in order; sends that arrive meanwhile queue behind them.
          while let next = shared.withLock({ shared -> Frame? in
            if shared.buffer.isEmpty {
              shared.session = session
              return nil
            }
            return shared.buffer.removeFirst()
          }) {
            try await session.send(next)
          }
        } catch {
          _ = try? await session.close(CloseReason(.goingAway))
          throw error
        }
        failures = 0
        stateContinuation.yield(.connected)
        do {
          for try await frame in session.incoming {
            if let tracking, let (topic, offset) = tracking.read(frame) {
              shared.withLock { $0.offsets[topic] = offset }
            }
            incomingContinuation.yield(frame)
          }
        } catch {}
        shared.withLock { $0.session = nil }
        let reason = await session.closeReason
        if shared.withLock({ $0.closed }) || Task.isCancelled { return finish("closed by the application") }
        if !policy.retriesCloseCode(reason.code) { return finish("the server closed with \(reason)") }
      } catch {
        if shared.withLock({ $0.closed }) || Task.isCancelled { return finish("closed by the application") }
        if !policy.retriesError(error) { return finish("\(error)") }
      }
      failures += 1
      if let maxAttempts = policy.maxAttempts, failures >= maxAttempts {
        return finish("gave up after \(failures) failed attempts in a row")
      }
      let delay = policy.delay(afterFailures: failures, using: &generator)
      stateContinuation.yield(.waiting(delay: delay, failures: failures))
      do { try await Task.sleep(for: delay) } catch { return finish("closed by the application") }
    }
  }

  private func finish(_ reason: String) {
    shared.withLock { $0.closed = true }
    stateContinuation.yield(.closed(reason: reason))
  }
}

/// Why a ``ReconnectingWebSocket`` could not take a message.
public enum ReconnectingWebSocketError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Disconnected, and the policy keeps no messages (``ReconnectPolicy/sendBufferLimit`` is 0).
  case notConnected
  /// Disconnected, and `limit` messages already wait for the next connection.
  case sendBufferFull(limit: Int)
  /// Closed: it will not connect again.
  case closed

  /// A sentence that says why.
  public var description: String {
    switch self {
    case .notConnected: "not connected (and messages are not kept while disconnected)"
    case .sendBufferFull(let limit): "not connected, and \(limit) messages already wait for the next connection"
    case .closed: "the reconnecting socket is closed"
    }
  }
}
