import Synchronization
import WispCommon

/// An embedded server on the epoll loops (Ktor's `embeddedServer(CIO, ...)`): listens on TCP (IPv4 or IPv6) or a
/// Unix socket, with optional TLS, and serves an `Application` on every connection.
///
/// ```swift
/// let server = EmbeddedServer(application, configuration: .init(endpoint: .host("127.0.0.1", port: 0)))
/// try await server.start()
/// print("listening on", server.port!)
/// ...
/// await server.stop()  // sessions close with 1001, bounded by the grace period
/// ```
public final class EmbeddedServer: Sendable {
  /// Where and how to listen; every field documents its default.
  public struct Configuration: Sendable {
    /// The address to listen on. Default `127.0.0.1:8080`; port 0 picks a free port (read it from ``port``).
    public var endpoint: Endpoint
    /// TLS (certificate chain, key, optional client-certificate verification); `nil` (default) for plain TCP.
    public var tls: TLSServerConfiguration?
    /// Connections served at once. Default `nil`: follows the descriptor limit (at start the soft
    /// `RLIMIT_NOFILE` is raised to the hard limit, and the limit is that less a reserve of an eighth, at most 256;
    /// ``DescriptorLimit``). A client arriving at the limit is answered at once (``retryAfter``), never left to time
    /// out in the backlog.
    public var maxConnections: Int?
    /// What a client arriving at ``maxConnections`` (or when the process is out of descriptors) is told: plain
    /// HTTP gets `503 Service Unavailable` with `Retry-After` in whole seconds, then the connection closes; a TLS
    /// listener closes the connection at once (an answer would cost a TLS handshake). Default 5 s.
    public var retryAfter: Duration
    /// The listen backlog: connections the kernel completes before the server accepts them. Default 4096 (the
    /// kernel caps it at `net.core.somaxconn`): a burst of connects beyond it is dropped or reset by the kernel.
    public var backlog: Int32
    /// The time ``stop()`` gives open sessions to finish their closing handshake (1001) before their
    /// connections are closed. Default 5 s.
    public var shutdownGracePeriod: Duration
    /// The loops that serve connections. Default: the process-wide group, one loop per core.
    public var group: EventLoopGroup
    /// The kernel's send buffer of each connection (`SO_SNDBUF`), in bytes. Default `nil`: the kernel's autotuning,
    /// up to `net.ipv4.tcp_wmem`'s maximum (often 4 MiB) per connection. A fan-out server with many subscribers may
    /// bound it, so that a subscriber that stops reading meets its `SlowSubscriberPolicy` sooner and costs less
    /// kernel memory.
    public var sendBufferSize: Int?
    /// Whether the listener joins the port's `SO_REUSEPORT` group, so that several processes listen on one port and
    /// the kernel spreads new connections over them: the way past one process's descriptor limit, and the way to
    /// replace a running server without refusing a connection (start the new one, then ``stop()`` the old one: it
    /// serves what its queue holds, lets the handshakes in progress finish, then closes every session with 1001).
    /// Every process of the group must set it (and run as the same user). A client whose TCP handshake is in flight
    /// at the very moment the old listener closes is reset by the kernel unless `net.ipv4.tcp_migrate_req = 1`
    /// (Linux 5.14 and later), which moves it to the group's other listeners. Default `false`.
    public var reusePort = false
    /// HTTP/2 (RFC 9113) and WebSockets over it (RFC 8441): offered by ALPN on a TLS listener, by prior knowledge on
    /// a plain one when asked. Default: on for TLS (`h2` before `http/1.1`), off for plain listeners; see
    /// ``HTTP2Configuration``.
    public var http2 = HTTP2Configuration()

    /// Creates a configuration.
    public init(
      endpoint: Endpoint = .host("127.0.0.1", port: 8080), tls: TLSServerConfiguration? = nil,
      maxConnections: Int? = nil, retryAfter: Duration = .seconds(5), backlog: Int32 = 4096,
      shutdownGracePeriod: Duration = .seconds(5), group: EventLoopGroup = .shared
    ) {
      self.endpoint = endpoint
      self.tls = tls
      self.maxConnections = maxConnections
      self.retryAfter = retryAfter
      self.backlog = backlog
      self.shutdownGracePeriod = shutdownGracePeriod
      self.group = group
    }
  }

  private struct State: Sendable {
    var listener: SocketListener?
    var acceptor: Task<Void, Never>?
    /// The tasks that read a request (numbered by ``nextConnection``).
    var connections: [Int: Task<Void, Never>] = [:]
    var nextConnection = 0
    /// The tasks that run a session, by the session's connection: the task's closure then captures no number of its
    /// own (a closure context of 48 B rather than 64 B per idle session, issue 34).
    var sessions: [ObjectIdentifier: Task<Void, Never>] = [:]
    /// The HTTP/2 connections served now, told to go away when the server stops.
    var http2Connections: [ObjectIdentifier: HTTP2Connection] = [:]
    /// Set by ``stop()``: an HTTP/2 connection that starts later goes away at once.
    var stopping = false
  }

  /// What a connection's first exchange gave: a WebSocket session, an HTTP/2 connection, or nothing more to do.
  private enum Accepted {
    case session(ApplicationServer.AcceptedSession)
    case http2(HTTP2Connection, initial: [UInt8])
  }

  /// The configuration.
  public let configuration: Configuration
  /// The application server (routing, sessions); exposes `ApplicationServer/openSessionCount`.
  public let server: ApplicationServer
  private let state = Mutex(State())
  /// Accepted connections whose opening handshake has not finished (counted at the accept).
  private let handshaking = Atomic<Int>(0)

  /// Creates a server for `application`; call ``start()`` to listen.
  public init(_ application: Application, configuration: Configuration = Configuration()) {
    self.configuration = configuration
    self.server = ApplicationServer(application: application)
  }

  /// The address listened on, once started.
  public var localAddress: SocketAddress? { state.withLock { $0.listener?.localAddress } }

  /// The TCP port listened on (the chosen one when the configuration asked for port 0), once started.
  public var port: Int? { localAddress?.port }

  /// Binds and starts accepting connections.
  ///
  /// - Throws: `TransportError/bindFailed(_:reason:)` when the address is taken; `TLSError` when the
  ///   certificate or key cannot be loaded; `WebSocketExtensionConfigurationError` for conflicting extensions.
  public func start() async throws {
    try server.validate()
    let offersHTTP2 = configuration.http2.enabled
    let context = try configuration.tls.map { configuration throws(TLSError) in
      try TLSContext(.server(configuration), offersHTTP2: offersHTTP2)
    }
    let group = configuration.group
    let limit = configuration.maxConnections ?? DescriptorLimit.defaultConnectionLimit()
    let listener = try await SocketListener.bind(
      configuration.endpoint, backlog: configuration.backlog, on: group.next(), group: group,
      maxConnections: limit,
      refusal: configuration.tls == nil ? Self.refusal(retryAfter: configuration.retryAfter) : [],
      sendBufferSize: configuration.sendBufferSize, reusePort: configuration.reusePort)
    // The accept loop runs on the listener's loop thread, never on Swift's global pool: application code that
    // blocks every thread of that pool must not stop new connections from being accepted and upgraded (the
    // handshakes and sessions run on the loops too).
    let acceptor = Task(executorPreference: listener.loop) { [self] in
      while true {
        guard let socket = try? await listener.accept() else { return }
        spawn(socket, context: context)
      }
    }
    state.withLock {
      $0.listener = listener
      $0.acceptor = acceptor
    }
  }

  private func spawn(_ socket: SocketTransport, context: TLSContext?) {
    // Counted from the accept, before the task runs: ``stop()`` waits for these before it closes the sessions.
    handshaking.add(1, ordering: .relaxed)
    track(on: socket.loop) { [self] in
      let accepted = await handshake(socket, context: context)
      handshaking.subtract(1, ordering: .relaxed)
      switch accepted {
      case .session(let session)?:
        // The session runs in a task of its own, and this one ends: a task keeps the memory of its deepest async
        // stack (the handshake's: TLS, request parsing, deadlines) for its whole life, and a session may idle for
        // hours (about 6 KiB less per idle connection; docs/decisions/0008).
        run(session)
      case .http2(let connection, let initial)?:
        await serve(connection, initial: initial)
      case nil:
        return
      }
    }
  }

  /// Serves an HTTP/2 connection until it ends; each request on it runs the application server's handshake in a
  /// task of its own (RFC 8441: an extended CONNECT becomes a session on its stream).
  private func serve(_ connection: HTTP2Connection, initial: [UInt8]) async {
    let key = ObjectIdentifier(connection)
    let stopping = state.withLock { state in
      state.http2Connections[key] = connection
      return state.stopping
    }
    if stopping { connection.goAway() }
    await connection.run(initial: initial)
    _ = state.withLock { $0.http2Connections.removeValue(forKey: key) }
    if let failure = connection.failure {
      server.reportCarrierFailure(peer: connection.carrier.peerDescription, error: "HTTP/2: \(failure)")
    }
  }

  private func makeHTTP2Connection(over carrier: any TLSCarrier) -> HTTP2Connection? {
    do {
      return try HTTP2Connection(
        carrier: carrier, configuration: configuration.http2, limits: server.requestLimits,
        requestTimeout: server.handshakeTimeout,
        offersWebSockets: configuration.http2.webSockets && server.servesWebSockets
      ) { [self] stream in serveStream(stream) }
    } catch {
      server.report(number: nil, event: .connectionFailed(peer: carrier.peerDescription, error: "HTTP/2: \(error)"))
      return nil
    }
  }

  /// Runs the handshake of a request that arrived on an HTTP/2 stream, then its session, as for a connection.
  private func serveStream(_ stream: HTTP2Stream) {
    handshaking.add(1, ordering: .relaxed)
    track(on: stream.connection.loop) { [self] in
      let accepted = await server.handshake(HTTP2StreamExchange(stream: stream))
      handshaking.subtract(1, ordering: .relaxed)
      if let accepted { run(accepted) }
    }
  }

  /// Runs `session` in a task isolated to its connection that prefers the connection's loop, registered as
  /// ``track(on:_:)`` does. Called on the connection's loop thread (the handshake's task). The session's handler is
  /// then isolated to the connection, so the hop back after each of its awaits finds the task on the right executor,
  /// and a wait for a message resumes on the loop without a preference pushed per wait, whose frame and record took
  /// an idle session's task past its first allocation slab (docs/decisions/0030; 0011 had the task without one).
  ///
  /// The task's body calls the server directly: a `@Sendable` async closure passed in would be `@concurrent` and
  /// start on Swift's global pool, so a session could not begin while application code blocks that pool
  /// (docs/decisions/0013).
  private func run(_ session: ApplicationServer.AcceptedSession) {
    state.withLock { state in
      // The loop thread is the connection's executor, so the assumption holds (checked by the loop's executor).
      state.sessions[ObjectIdentifier(session.connection)] = session.connection.assumeIsolated { connection in
        Task(executorPreference: connection.transport.taskExecutor) { [self] in
          // Capturing the connection makes the task isolated to it: its first job goes to the loop.
          defer { _ = self.state.withLock { $0.sessions.removeValue(forKey: ObjectIdentifier(connection)) } }
          await server.run(session)
        }
      }
    }
  }

  /// Runs `body` in a task on `loop`, registered so that ``stop()`` waits for it. The task is created and
  /// registered under the lock, so its own removal (which takes the lock) always comes after the registration,
  /// however quickly it ends.
  private func track(on loop: EventLoop, _ body: @escaping @Sendable () async -> Void) {
    state.withLock { state in
      state.nextConnection += 1
      let id = state.nextConnection
      state.connections[id] = Task(executorPreference: loop) { [self] in
        defer { _ = self.state.withLock { $0.connections.removeValue(forKey: id) } }
        await body()
      }
    }
  }

  private func handshake(_ socket: SocketTransport, context: TLSContext?) async -> Accepted? {
    guard let context else {
      guard configuration.http2.acceptsPriorKnowledge else {
        return await server.handshake(socket).map(Accepted.session)
      }
      return await handshakePlain(socket)
    }
    do {
      let secure = try await TLSTransport.accept(over: socket, context: context)
      if secure.negotiatedALPN == "h2" {
        guard let connection = makeHTTP2Connection(over: secure) else {
          await secure.close()
          return nil
        }
        return .http2(connection, initial: [])
      }
      return await server.handshake(secure).map(Accepted.session)
    } catch {
      server.report(number: nil, event: .connectionFailed(peer: socket.peerDescription, error: "TLS: \(error)"))
      await socket.close()
      return nil
    }
  }

  /// A plain connection on a listener that accepts HTTP/2 with prior knowledge (h2c): the first bytes decide. The
  /// HTTP/2 preface (RFC 9113 section 3.4) makes an HTTP/2 connection, anything else an HTTP/1.1 request, whose
  /// bytes read so far go to the handshake. Reading is bounded by the handshake's timeout.
  private func handshakePlain(_ socket: SocketTransport) async -> Accepted? {
    let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    var prefix: [UInt8] = []
    do {
      try await withTransportDeadline(socket, timeout: server.handshakeTimeout, operation: "waiting for the request") {
        while prefix.count < preface.count, prefix.elementsEqual(preface.prefix(prefix.count)) {
          let more = try await socket.read { bytes in
            prefix.append(contentsOf: bytes)
            return !bytes.isEmpty
          }
          if !more { break }
        }
      }
    } catch {
      await socket.close()
      return nil
    }
    if prefix.count >= preface.count, prefix.prefix(preface.count).elementsEqual(preface) {
      guard let connection = makeHTTP2Connection(over: socket) else {
        await socket.close()
        return nil
      }
      return .http2(connection, initial: prefix)
    }
    if prefix.isEmpty {
      await socket.close()
      return nil
    }
    return await server.handshake(socket, prefix: prefix).map(Accepted.session)
  }

  /// The answer to a client that arrives at the connection limit.
  static func refusal(retryAfter: Duration) -> [UInt8] {
    let body = "The server is at its connection limit; retry later.\n"
    let seconds = max(
      1, Int((Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) / 1e18).rounded(.up)))
    return Array(
      ("HTTP/1.1 503 Service Unavailable\r\nRetry-After: \(seconds)\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body).utf8)
  }

  /// Stops: no new connections (those the kernel had queued are still served), handshakes in progress finish
  /// (at most 2 s), every open session closes with 1001 "Server is shutting down" (bounded by the grace period,
  /// then the connections are closed), and returns when every connection has ended.
  public func stop() async {
    let (listener, acceptor) = state.withLock { state in
      state.stopping = true
      return (state.listener, state.acceptor)
    }
    await listener?.close()
    await acceptor?.value
    // HTTP/2 connections accept no new streams (GOAWAY); their sessions close with 1001 below like every other.
    for connection in state.withLock({ Array($0.http2Connections.values) }) { connection.goAway() }
    // Clients already accepted (those the listener's queue held included) finish their upgrade, bounded, and are
    // then closed with 1001 like every session instead of being refused.
    let deadline = ContinuousClock.now + min(configuration.shutdownGracePeriod, .seconds(2))
    while handshaking.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(5))
    }
    await server.closeAllSessions(gracePeriod: configuration.shutdownGracePeriod)
    // HTTP/2 connections end themselves once their last stream has (END_STREAM both ways, then GOAWAY): a bounded
    // wait, so that the cut below does not take the streams' last frames.
    let streamsDeadline = ContinuousClock.now + .seconds(2)
    while state.withLock({ !$0.http2Connections.isEmpty }), ContinuousClock.now < streamsDeadline {
      try? await Task.sleep(for: .milliseconds(5))
    }
    // Connections still reading their request are cut: the handshake timeout would bound them anyway. A handshake
    // that ends now may hand its session to a new task: repeat until none is left.
    while true {
      let remaining = state.withLock { Array($0.connections.values) + Array($0.sessions.values) }
      if remaining.isEmpty { break }
      for task in remaining { task.cancel() }
      for task in remaining { await task.value }
    }
  }
}
