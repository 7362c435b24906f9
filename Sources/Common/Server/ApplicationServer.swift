import Logging
import Synchronization

/// Serves an ``Application`` on transports that a listener (the Linux embedded server) or the in-memory test host
/// hands it: reads the request (bounded in size and time), routes it, answers plain routes and refusals, upgrades
/// WebSocket routes and runs their handlers with Ktor's lifecycle. Tracks open sessions for a graceful stop.
public final class ApplicationServer: Sendable {
  /// The application served.
  public let application: Application
  private let sessions = Mutex(Sessions())
  private struct Sessions: ~Copyable {
    var open: [ObjectIdentifier: WebSocketConnection] = [:]
    /// Set by ``closeAllSessions(_:gracePeriod:)``: sessions that open later are refused with 503.
    var stopping = false
  }
  private let config: WebSockets.ServerConfig
  /// The per-address counts, when ``WebSockets/ServerConfig/perAddressLimit`` is set.
  private let perAddress: PerAddressTracker?
  /// The last connection number given (``WispLogMetadata/connection``).
  private let connectionNumbers = Atomic<UInt64>(0)

  /// Creates a server for `application`.
  public init(application: Application) {
    self.application = application
    self.config = application.webSockets ?? WebSockets.ServerConfig()
    self.perAddress = config.perAddressLimit.map(PerAddressTracker.init)
  }

  /// Checks the application's configuration before serving: two extensions may not claim the same RSV bit.
  ///
  /// - Throws: ``WebSocketExtensionConfigurationError``.
  public func validate() throws(WebSocketExtensionConfigurationError) {
    try config.extensions.validate()
  }

  /// The time a client has to send its request (the plugin's `handshakeTimeout`).
  package var handshakeTimeout: Duration { config.handshakeTimeout }

  /// The bounds of a request's head (the plugin's `requestLimits`).
  package var requestLimits: HTTPHeadLimits { config.requestLimits }

  /// Whether the application has a WebSocket route (an HTTP/2 connection then offers extended CONNECT).
  package var servesWebSockets: Bool { application.routes.hasWebSocketRoutes }

  /// The WebSockets plugin's content converter, which the handlers' sessions offer.
  var contentConverter: (any WebSocketContentConverter)? { config.contentConverter }

  /// WebSocket sessions open now.
  public var openSessionCount: Int { sessions.withLock { $0.open.count } }

  /// Serves one connection until its session (or plain answer) is over, then closes the transport. Never throws:
  /// failures are answered (400, 404, 426, 431...), closed with the RFC's code and reported to the log.
  public func serve(_ transport: any Transport) async {
    guard let session = await handshake(transport) else { return }
    await run(session)
  }

  /// A WebSocket session whose upgrade was answered with 101, registered as open; ``run(_:)`` runs its handler.
  ///
  /// A reference: the session's task, its box while it runs and the handler's session object share it instead of
  /// each holding a copy of the request (memory per idle session, issue 34).
  public final class AcceptedSession: Sendable {
    /// The session's connection; a server runs ``run(_:)`` in a task isolated to it, so that the handler's awaits
    /// return to the connection's executor without a switch.
    public let connection: WebSocketConnection
    let handler: Routing.Handler
    let call: ServerCall
    let subprotocol: String?
    /// The address counted by the per-address limit, released when the session ends.
    let limitedAddress: String?
    /// The connection's number in the logs.
    let number: UInt64

    init(
      connection: WebSocketConnection, handler: Routing.Handler, call: ServerCall, subprotocol: String?,
      limitedAddress: String?, number: UInt64
    ) {
      self.connection = connection
      self.handler = handler
      self.call = call
      self.subprotocol = subprotocol
      self.limitedAddress = limitedAddress
      self.number = number
    }
  }

  /// The first half of ``serve(_:)``: reads the request and answers it. Returns the upgraded session, or `nil` when
  /// the connection got a plain answer or a refusal (and is closed).
  ///
  /// A server that keeps many idle sessions runs ``run(_:)`` in a new task: a task's async stack keeps the memory
  /// of its deepest point (the handshake's) for its whole life, about 6 KiB per connection here.
  public func handshake(_ transport: any Transport) async -> AcceptedSession? {
    await handshake(HTTP1Exchange(transport: transport))
  }

  /// ``handshake(_:)`` for a connection whose first bytes were read already (`prefix`: a listener that looked for
  /// the HTTP/2 preface and found an HTTP/1.1 request).
  package func handshake(_ transport: any Transport, prefix: [UInt8]) async -> AcceptedSession? {
    await handshake(HTTP1Exchange(transport: transport, prefix: prefix))
  }

  /// ``handshake(_:)`` on any exchange: an HTTP/1.1 connection, or an HTTP/2 stream whose request the platform's
  /// HTTP/2 connection has read (RFC 8441). Routes, refusals, upgrade checks and the session are the same for both.
  package func handshake(_ exchange: some ServerExchange) async -> AcceptedSession? {
    let number = connectionNumbers.add(1, ordering: .relaxed).newValue
    let transport = exchange.transport
    let peer = transport.peerDescription
    let head: (HTTPRequestHead, [UInt8])
    do {
      let limits = config.requestLimits
      let received = try await withTransportDeadline(
        transport, timeout: config.handshakeTimeout, operation: "waiting for the upgrade request"
      ) { try await exchange.readRequest(limits: limits) }
      guard let received else {
        await exchange.abandon()
        return nil
      }
      head = received
    } catch let error as HandshakeError {
      let status: Int
      switch error {
      case .headTooLarge, .tooManyHeaders: status = 431
      default: status = 400
      }
      await refuse(exchange, number: number, peer: peer, target: "", status: status, reason: error.description)
      return nil
    } catch {
      report(number: number, event: .connectionFailed(peer: peer, error: "\(error)"))
      await exchange.abandon()
      return nil
    }
    let (request, leftover) = head
    let matches = application.routes.matches(request.path)
    guard !matches.isEmpty else {
      await refuse(
        exchange, number: number, peer: peer, target: request.target, status: 404,
        reason: "no route for \(request.path)")
      return nil
    }
    let webSocketMatches = matches.filter { $0.route.handler.isWebSocket }
    let wantsUpgrade: Bool
    switch exchange.form {
    case .http1: wantsUpgrade = request.headers.listContains(name: "Upgrade", token: "websocket")
    case .http2(let connectProtocol): wantsUpgrade = request.method == "CONNECT" && connectProtocol != nil
    }
    if !webSocketMatches.isEmpty && (wantsUpgrade || !matches.contains { !$0.route.handler.isWebSocket }) {
      return await upgrade(
        exchange, number: number, request: request, leftover: leftover, matches: webSocketMatches, peer: peer)
    }
    await answerPlain(exchange, number: number, request: request, matches: matches, peer: peer)
    return nil
  }

  /// Closes every open session with `reason` (default 1001 "Server is shutting down") and returns when each has
  /// ended; after `gracePeriod`, closes the transports of those still open without waiting further.
  ///
  /// The closing handshakes start without a task per session (at a million sessions, a task each cost a million
  /// task stacks and the task group's bookkeeping): a few tasks visit the connections and queue each close frame,
  /// which goes out at the end of its executor's turn; the peers' replies end the sessions.
  public func closeAllSessions(
    _ reason: CloseReason = CloseReason(.goingAway, "Server is shutting down"), gracePeriod: Duration = .seconds(5)
  ) async {
    let open = sessions.withLock { sessions in
      sessions.stopping = true
      return Array(sessions.open.values)
    }
    guard !open.isEmpty else { return }
    let deadline = ContinuousClock.now + gracePeriod
    let remaining = EndCountdown(open.count)
    let ended: @Sendable (CloseReason) -> Void = { _ in remaining.count.subtract(1, ordering: .relaxed) }
    // One visitor per executor (an event loop), running on it: each close frame is queued there without a hop (two
    // thread switches per session were about a sixth of a million sessions' shutdown). Sessions without an
    // executor of their own (the test host's) share at most 16 visitors.
    var onExecutors: [ObjectIdentifier: (executor: any TaskExecutor, connections: [WebSocketConnection])] = [:]
    var withoutExecutor: [WebSocketConnection] = []
    for connection in open {
      if let executor = connection.transport.taskExecutor {
        onExecutors[ObjectIdentifier(executor), default: (executor, [])].connections.append(connection)
      } else {
        withoutExecutor.append(connection)
      }
    }
    let elsewhere = withoutExecutor
    let visitors = min(elsewhere.count, 16)
    await withTaskGroup(of: Void.self) { group in
      for (executor, connections) in onExecutors.values {
        group.addTask(executorPreference: executor) {
          for connection in connections { await connection.startClosingOnExecutor(reason, ended: ended) }
        }
      }
      for first in 0..<visitors {
        group.addTask {
          for index in stride(from: first, to: elsewhere.count, by: visitors) {
            await elsewhere[index].startClosing(reason, ended: ended)
          }
        }
      }
    }
    // Bounded by the grace period; polled, as the sessions end on their own executors.
    while remaining.count.load(ordering: .relaxed) > 0, ContinuousClock.now < deadline {
      try? await Task.sleep(for: .milliseconds(5))
    }
    guard remaining.count.load(ordering: .relaxed) > 0 else { return }
    // The rest are closed where they run, by one visitor per executor again: from this task, a hop to each
    // connection's loop and back was two thread switches per session, most of a million sessions' last seconds.
    await withTaskGroup(of: Void.self) { group in
      for (executor, connections) in onExecutors.values {
        group.addTask(executorPreference: executor) {
          for connection in connections { await connection.terminate() }
        }
      }
      for first in 0..<visitors {
        group.addTask {
          for index in stride(from: first, to: elsewhere.count, by: visitors) { await elsewhere[index].terminate() }
        }
      }
    }
  }

  /// The sessions of a shutdown that have not ended yet.
  private final class EndCountdown: Sendable {
    let count: Atomic<Int>
    init(_ count: Int) { self.count = Atomic(count) }
  }

  // MARK: Answers

  private func refuse(
    _ exchange: some ServerExchange, number: UInt64, peer: String, target: String, status: Int, reason: String,
    headers: HTTPHeaders = [:], logged: Bool = true
  ) async {
    var response = ServerResponse.text(reason + "\n", status: status)
    for field in headers { response.headers.add(name: field.name, value: field.value) }
    await exchange.respond(response, includeBody: true)
    WispMetrics.handshake(.server, outcome: "refused", status: status, factory: config.metricsFactory)
    if logged {
      report(number: number, event: .requestRefused(peer: peer, target: target, status: status, reason: reason))
    }
  }

  /// The clock of a connection's deadlines: the plugin's, else the transport's, else the system's.
  private func clock(for transport: any Transport) -> any SessionClock {
    config.sessionClock ?? transport.sessionClock ?? SystemSessionClock.shared
  }

  /// What a route's upgrade checks decided together.
  private enum ChecksOutcome: Sendable {
    case accepted(headers: HTTPHeaders, attributes: CallAttributes)
    case refused(ServerResponse)
    /// A check threw (500) or ran past ``WebSockets/ServerConfig/upgradeCheckTimeout`` (503); the error is for the
    /// log only.
    case failed(status: Int, error: String)
  }

  /// Runs `checks` in order, each seeing the values the ones before it accepted with, within the time limit. The
  /// 101's extra headers leave out those the handshake owns.
  private func runChecks(_ checks: [UpgradeCheck], call: ServerCall, transport: any Transport) async -> ChecksOutcome {
    let clock = clock(for: transport)
    let limit = config.upgradeCheckTimeout
    let outcome = await outcomeBeforeDeadline(
      clock: clock, deadline: clock.now + limit, executor: transport.taskExecutor
    ) { () async throws -> ChecksOutcome in
      var current = call
      var headers = HTTPHeaders()
      for check in checks {
        switch try await check(current).kind {
        case .refuse(let response):
          return .refused(response)
        case .accept(let added, let attributes):
          for field in added where !Self.isHandshakeHeader(field.name) {
            headers.add(name: field.name, value: field.value)
          }
          current.attributes.merge(attributes)
        }
      }
      return .accepted(headers: headers, attributes: current.attributes)
    }
    switch outcome {
    case nil: return .failed(status: 503, error: "the upgrade check took longer than \(limit)")
    case .failure(let error)?: return .failed(status: 500, error: "the upgrade check threw: \(error)")
    case .success(let decided)?: return decided
    }
  }

  /// Headers of the 101 that the handshake writes itself.
  static func isHandshakeHeader(_ name: String) -> Bool {
    let lowered = name.lowercased()
    return lowered == "upgrade" || lowered == "connection" || lowered.hasPrefix("sec-websocket-")
      || lowered == "content-length" || lowered == "transfer-encoding"
  }

  private func answerPlain(
    _ exchange: some ServerExchange, number: UInt64, request: HTTPRequestHead,
    matches: [(route: Routing.Route, parameters: [String: String])], peer: String
  ) async {
    let method = request.method == "HEAD" ? "GET" : request.method
    for (route, parameters) in matches {
      guard case .http(let routeMethod, let handler) = route.handler, routeMethod == method else { continue }
      let call = ServerCall(request: request, parameters: parameters, remoteAddress: peer)
      let response: ServerResponse
      do {
        response = try await handler(call)
      } catch {
        report(number: number, event: .handlerFailed(peer: peer, path: request.path, error: "\(error)"))
        response = .text("internal server error\n", status: 500)
      }
      await exchange.respond(response, includeBody: request.method != "HEAD")
      return
    }
    await refuse(
      exchange, number: number, peer: peer, target: request.target, status: 405,
      reason: "method \(request.method) is not allowed here",
      headers: ["Allow": "GET, HEAD"])
  }

  private func upgrade(
    _ exchange: some ServerExchange, number: UInt64, request: HTTPRequestHead, leftover: [UInt8],
    matches: [(route: Routing.Route, parameters: [String: String])], peer: String
  ) async -> AcceptedSession? {
    let context = UpgradeAdmission.Context(
      matches: matches, peer: peer, peerCertificate: exchange.transport.peerCertificate,
      stopping: sessions.withLock { $0.stopping }, config: application.webSockets, perAddress: perAddress,
      now: clock(for: exchange.transport).now, form: exchange.form, transport: exchange.transport)
    var admitted: UpgradeAdmission.Admitted
    switch UpgradeAdmission.decide(request, context: context) {
    case .failure(let refusal):
      await refuse(
        exchange, number: number, peer: peer, target: request.target, status: refusal.status, reason: refusal.reason,
        headers: refusal.headers)
      return nil
    case .success(let decision):
      admitted = decision
    }
    let route = admitted.route
    let limitedAddress = admitted.limitedAddress
    // Every refusal from here on gives the per-address slot back.
    func release() { if let limitedAddress { perAddress?.release(limitedAddress) } }
    var extraHeaders = HTTPHeaders()
    if !route.checks.isEmpty {
      switch await runChecks(route.checks, call: admitted.call, transport: exchange.transport) {
      case .accepted(let headers, let attributes):
        extraHeaders = headers
        admitted.call.attributes = attributes
      case .refused(let response):
        release()
        await exchange.respond(response, includeBody: true)
        WispMetrics.handshake(.server, outcome: "refused", status: response.status, factory: config.metricsFactory)
        report(
          number: number,
          event: .requestRefused(
            peer: peer, target: request.target, status: response.status,
            reason:
              "refused by the route's upgrade check: \(String(decoding: response.body.prefix(200), as: UTF8.self))"))
        return nil
      case .failed(let status, let error):
        release()
        report(number: number, event: .upgradeCheckFailed(peer: peer, path: request.path, error: error))
        await refuse(
          exchange, number: number, peer: peer, target: request.target, status: status,
          reason: status == 503 ? "service unavailable" : "internal server error", logged: false)
        return nil
      }
    }
    let (response, extensions, isRaw) = UpgradeAdmission.accept(
      admitted, extensionFactories: config.extensions.factories, headers: extraHeaders)
    let call = admitted.call
    do {
      try await exchange.accept(response)
    } catch {
      release()
      report(number: number, event: .connectionFailed(peer: peer, error: "\(error)"))
      await exchange.abandon()
      return nil
    }
    let connection = WebSocketConnection(
      transport: exchange.transport, role: .server, mode: isRaw ? .raw : .default, settings: config.session,
      clock: config.sessionClock, metricsFactory: config.metricsFactory, leftover: leftover, extensions: extensions)
    let key = ObjectIdentifier(connection)
    let registered = sessions.withLock { sessions -> Bool in
      guard !sessions.stopping else { return false }
      sessions.open[key] = connection
      return true
    }
    guard registered else {
      // The server began to stop between the check above and here: close as every other session does.
      release()
      _ = try? await connection.close(CloseReason(.goingAway, "Server is shutting down"))
      return nil
    }
    WispMetrics.handshake(.server, outcome: "accepted", status: response.status, factory: config.metricsFactory)
    WispMetrics.opened(.server, factory: config.metricsFactory)
    report(
      number: number, event: .sessionOpened(peer: peer, path: request.path, subprotocol: route.subprotocol),
      extensions: extensions.map(\.name), httpVersion: exchange.form == .http1 ? "1.1" : "2")
    return AcceptedSession(
      connection: connection, handler: route.handler, call: call, subprotocol: route.subprotocol,
      limitedAddress: limitedAddress, number: number)
  }

  /// The second half of ``serve(_:)``: runs the handler with Ktor's lifecycle, waits for the end of the
  /// connection, and unregisters it.
  public func run(_ session: AcceptedSession) async {
    await run(running(session), connection: session.connection)
  }

  /// The session in its box, with the handler's session object; out of line, so that building them adds nothing to
  /// the caller's frame.
  @inline(never)
  private func running(_ session: AcceptedSession) -> RunningSession {
    RunningSession(session, server: self)
  }

  /// An accepted session while it runs, in one object: the frames of a session's task above its waiting handler
  /// stay allocated while the session idles, and a task keeps every allocation slab it has used, so these frames
  /// hold one reference each instead of the session's fields (an idle session's task then fits in one slab). The
  /// box costs a 64 B allocation per session, and is still the cheaper choice: without it (the accepted session and
  /// the handler's session object as locals) `run(_:connection:)`'s context grew from 128 to 160 B and the task took
  /// a second 1,016 B slab (measured with a `swift_task_alloc` shim; the slab holds the deepest chain, not only the
  /// idle one).
  private final class RunningSession: Sendable {
    /// The handler and the session object it gets.
    enum HandlerCall {
      case webSocket(@Sendable (DefaultWebSocketServerSession) async throws -> Void, DefaultWebSocketServerSession)
      case rawWebSocket(@Sendable (WebSocketServerSession) async throws -> Void, WebSocketServerSession)
      case none
    }

    let accepted: AcceptedSession
    let handlerCall: HandlerCall

    init(_ accepted: AcceptedSession, server: ApplicationServer) {
      self.accepted = accepted
      switch accepted.handler {
      case .webSocket(let body): handlerCall = .webSocket(body, server.makeDefaultSession(accepted))
      case .rawWebSocket(_, let body): handlerCall = .rawWebSocket(body, server.makeRawSession(accepted))
      case .http: handlerCall = .none
      }
    }
  }

  /// ``run(_:)`` isolated to the connection: Ktor's handler lifecycle (`finish`). A handler
  /// still running ``WebSockets/ServerConfig/handlerGracePeriod`` after its connection ended is cancelled (the
  /// connection's timer, armed by `handlerStarted`). Only the handler's await happens here; the rest is in functions
  /// of their own: the frames under a waiting handler stay allocated while the session idles (what the optimizer
  /// inlines into a function widens its frame).
  @inline(never)
  private func run(_ running: RunningSession, connection: isolated WebSocketConnection) async {
    begin(connection)
    let failure: (any Error)?
    switch running.handlerCall {
    case .webSocket(let body, let session): failure = await Self.call(body, with: session)
    case .rawWebSocket(let body, let session): failure = await Self.call(body, with: session)
    case .none: failure = nil
    }
    await finish(running, failure: failure, connection: connection)
  }

  /// Starts the connection's reading and the handler's lifecycle.
  @inline(never)
  private func begin(_ connection: isolated WebSocketConnection) {
    connection.start()
    connection.handlerStarted()
  }

  /// Calls a handler on the caller's isolation (the connection); returns what it threw. The session is a class, so
  /// the specialized call takes the handler as it is (an unconstrained generic cost three reabstraction thunks, a
  /// frame each under the waiting handler).
  private nonisolated(nonsending) static func call<Session: AnyObject & Sendable>(
    _ body: @Sendable (Session) async throws -> Void, with session: Session
  ) async -> (any Error)? {
    do {
      try await body(session)
      return nil
    } catch {
      return error
    }
  }

  /// Ktor's handler lifecycle after the handler: a default handler's return closes with 1000 (bounded wait for the
  /// client's close), a throw with 1011; a raw handler's return flushes and closes the connection. Then the end's
  /// metrics and log record.
  @inline(never)
  private func finish(_ running: RunningSession, failure: (any Error)?, connection: isolated WebSocketConnection)
    async
  {
    let accepted = running.accepted
    switch accepted.handler {
    case .webSocket:
      if let failure {
        await fail(accepted, error: failure)
      } else {
        _ = try? await connection.close(CloseReason(.normal))
      }
    case .rawWebSocket:
      if let failure { await fail(accepted, error: failure) }
      if !connection.isClosed { try? await connection.flush() }
      await connection.terminate()
    case .http:
      await connection.terminate()
    }
    connection.handlerFinished()
    await sessionEnded(accepted)
    unregister(accepted)
  }

  /// Forgets a session that ended.
  @inline(never)
  private func unregister(_ session: AcceptedSession) {
    sessions.withLock { _ = $0.open.removeValue(forKey: ObjectIdentifier(session.connection)) }
    if let address = session.limitedAddress { perAddress?.release(address) }
  }

  /// The end's metrics and log record.
  @inline(never)
  private func sessionEnded(_ session: AcceptedSession) async {
    let connection = session.connection
    let reason = await connection.closeReason
    WispMetrics.ended(.server, reason: reason, traffic: await connection.traffic, factory: config.metricsFactory)
    report(
      number: session.number,
      event: .sessionClosed(peer: session.call.remoteAddress, path: session.call.request.path, reason: reason))
  }

  /// The default session object; out of line, so that its construction adds nothing to the waiting frame.
  @inline(never)
  private func makeDefaultSession(_ accepted: AcceptedSession) -> DefaultWebSocketServerSession {
    DefaultWebSocketServerSession(accepted: accepted, config: config, server: self)
  }

  /// The raw session object; out of line, as ``makeDefaultSession(_:)``.
  @inline(never)
  private func makeRawSession(_ accepted: AcceptedSession) -> WebSocketServerSession {
    WebSocketServerSession(accepted: accepted, server: self)
  }

  /// A handler threw: the session closes with 1011 and the fixed reason "Internal Error" (the error's text may
  /// hold secrets: it goes to the log only), or with 1001 when the handler was cancelled; nothing is sent when the
  /// error is the session's own end (the client closed or broke the protocol, which closed it with the right code).
  @inline(never)
  private func fail(_ accepted: AcceptedSession, error: any Error) async {
    let connection = accepted.connection
    let call = accepted.call
    let number = accepted.number
    if await connection.isClosed { return }
    if error is CancellationError {
      _ = try? await connection.close(CloseReason(.goingAway))
    } else {
      report(
        number: number, event: .handlerFailed(peer: call.remoteAddress, path: call.request.path, error: "\(error)"))
      _ = try? await connection.close(CloseReason(.internalError, "Internal Error"))
    }
  }

  // MARK: Logs

  /// Logs `event` through the application's logger with the connection's metadata, at the event's level (the
  /// platform's listener reports what happens before a connection reaches the server, such as a failed TLS
  /// handshake).
  public func report(number: UInt64?, event: ServerLogEvent, extensions: [String] = []) {
    report(number: number, event: event, extensions: extensions, httpVersion: nil)
  }

  /// A connection that carried several sessions (an HTTP/2 connection) ended in an error: a debug record, and no
  /// handshake metric (its sessions were counted one by one).
  package func reportCarrierFailure(peer: String, error: String) {
    application.logger.debug(
      "the connection failed: \(error)", metadata: [WispLogMetadata.peer: "\(peer)", WispLogMetadata.error: "\(error)"])
  }

  /// ``report(number:event:extensions:)`` with the HTTP version of a session's handshake
  /// (``WispLogMetadata/httpVersion``).
  func report(number: UInt64?, event: ServerLogEvent, extensions: [String], httpVersion: String?) {
    if case .connectionFailed = event {
      WispMetrics.handshake(.server, outcome: "failed", status: nil, factory: config.metricsFactory)
    }
    let level: Logger.Level
    switch event {
    case .sessionOpened, .sessionClosed: level = .info
    // Refusals by policy (Origin, per-address limit, overload) are worth an operator's attention; the others are
    // the ordinary noise of a public port.
    case .requestRefused(_, _, let status, _): level = [403, 429, 503].contains(status) ? .notice : .debug
    case .handlerFailed, .upgradeCheckFailed: level = .error
    case .connectionFailed: level = .debug
    }
    // Below the logger's level (`ws serve -q`) no record is built: the metadata of a session's two records cost a
    // fiftieth of a handshake's CPU at 6,000 handshakes a second (issue 34).
    guard level >= application.logger.logLevel else { return }
    var metadata: Logger.Metadata = [:]
    if let httpVersion { metadata[WispLogMetadata.httpVersion] = "\(httpVersion)" }
    if let number { metadata[WispLogMetadata.connection] = "\(number)" }
    switch event {
    case .sessionOpened(let peer, let path, let subprotocol):
      metadata[WispLogMetadata.peer] = "\(peer)"
      metadata[WispLogMetadata.path] = "\(path)"
      if let subprotocol { metadata[WispLogMetadata.subprotocol] = "\(subprotocol)" }
      if !extensions.isEmpty { metadata[WispLogMetadata.extensions] = "\(extensions.joined(separator: ","))" }
    case .sessionClosed(let peer, let path, let reason):
      metadata[WispLogMetadata.peer] = "\(peer)"
      metadata[WispLogMetadata.path] = "\(path)"
      metadata[WispLogMetadata.closeCode] = "\(reason.code.rawValue)"
    case .requestRefused(let peer, let target, let status, _):
      metadata[WispLogMetadata.peer] = "\(peer)"
      metadata[WispLogMetadata.path] = "\(target)"
      metadata[WispLogMetadata.status] = "\(status)"
    case .handlerFailed(let peer, let path, let error), .upgradeCheckFailed(let peer, let path, let error):
      metadata[WispLogMetadata.peer] = "\(peer)"
      metadata[WispLogMetadata.path] = "\(path)"
      metadata[WispLogMetadata.error] = "\(error)"
    case .connectionFailed(let peer, let error):
      metadata[WispLogMetadata.peer] = "\(peer)"
      metadata[WispLogMetadata.error] = "\(error)"
    }
    application.logger.log(level: level, "\(event.description)", metadata: metadata)
  }
}
