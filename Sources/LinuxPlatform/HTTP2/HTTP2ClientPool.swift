import Synchronization
import WispCommon

/// The client's HTTP/2 connections (RFC 8441), one current per origin (endpoint, name and TLS settings), shared by the
/// sessions to it: a session opens a stream on the origin's current connection while it has room (the server's
/// `SETTINGS_MAX_CONCURRENT_STREAMS`, the client's `maxStreams`, no GOAWAY), otherwise on a new one, which becomes
/// current for the next sessions (the earlier one serves its streams to their end). A connection without streams
/// closes after its idle timeout (``HTTP2Configuration/idleTimeout``).
final class HTTP2ClientPool: Sendable {
  struct Origin: Hashable, Sendable {
    var endpoint: Endpoint
    var host: String
    var tls: TLSClientConfiguration
  }

  /// What connecting with ALPN `h2` gave.
  enum Connected: Sendable {
    case http2(HTTP2Connection)
    /// ALPN selected `http/1.1`: the TLS connection, for whoever asked first.
    case http1(any Transport)
  }

  /// The connection being made or in use for each origin.
  private let current = Mutex<[Origin: Task<Connected, any Error>]>([:])
  /// The settings of the client's connections.
  let configuration = HTTP2Configuration()

  /// Opens a WebSocket stream to `origin` with `request` (see ``ExtendedConnectConnector``).
  func openWebSocketStream(
    _ origin: Origin, request: HTTPRequestHead, maxStreams: Int?, timeout: Duration, group: EventLoopGroup
  ) async throws -> ExtendedConnectOutcome {
    let started = ContinuousClock.now
    // Sessions opened at once may each find the connection they waited for full (another took its last room): each
    // then makes or joins the next one, bounded in count and by the time limit.
    for _ in 0..<256 {
      let (task, created) = current.withLock { current -> (Task<Connected, any Error>, Bool) in
        if let existing = current[origin] { return (existing, false) }
        let task = Task { try await Self.connect(origin, timeout: timeout, group: group, pool: self) }
        current[origin] = task
        return (task, true)
      }
      let connected: Connected
      do {
        connected = try await task.value
      } catch {
        forget(origin, task)
        throw error
      }
      switch connected {
      case .http1(let transport):
        forget(origin, task)
        // The TLS connection goes to the session that made it; a session that found it made by another connects
        // on its own, over HTTP/1.1.
        if created { return .http1(transport) }
        return .notOffered("\(origin.host) selected http/1.1 by ALPN")
      case .http2(let connection):
        let remaining = timeout - (ContinuousClock.now - started)
        guard remaining > .zero else { break }
        let outcome = try await Self.open(connection, request: request, maxStreams: maxStreams, timeout: remaining)
        if case .notOffered? = outcome { forget(origin, task) }
        if let outcome { return outcome }
        // No room here (a stream limit, a GOAWAY, the end): the next connection for this origin.
        forget(origin, task)
      }
      if ContinuousClock.now - started >= timeout { break }
    }
    throw TransportError.timedOut(operation: "opening an HTTP/2 stream to \(origin.host)", limit: timeout)
  }

  /// Drops `task` as `origin`'s current connection (if it still is).
  func forget(_ origin: Origin, _ task: Task<Connected, any Error>) {
    current.withLock { current in
      if current[origin] == task { current[origin] = nil }
    }
  }

  /// Connects with ALPN `h2` and `http/1.1`; with `h2`, starts the connection and waits for the server's SETTINGS.
  private static func connect(
    _ origin: Origin, timeout: Duration, group: EventLoopGroup, pool: HTTP2ClientPool
  ) async throws -> Connected {
    let started = ContinuousClock.now
    let loop = group.next()
    let socket = try await SocketConnector.connect(to: origin.endpoint, on: loop, timeout: timeout)
    var tls = origin.tls
    tls.handshakeTimeout = min(tls.handshakeTimeout, max(timeout - (ContinuousClock.now - started), .milliseconds(1)))
    let bounded = tls
    let secure = try await withTaskExecutorPreference(loop) {
      try await LinuxTransportConnector.secure(socket, tls: bounded, host: origin.host, offersHTTP2: true)
    }
    guard secure.negotiatedALPN == "h2" else { return .http1(secure) }
    let connection = try await withTaskExecutorPreference(loop) {
      try await Self.start(secure, configuration: pool.configuration, timeout: timeout)
    }
    Task(executorPreference: loop) {
      await connection.run()
    }
    return .http2(connection)
  }

  @concurrent private static func start(
    _ carrier: TLSTransport, configuration: HTTP2Configuration, timeout: Duration
  ) async throws -> HTTP2Connection {
    do {
      return try HTTP2Connection(
        clientOver: carrier, configuration: configuration, limits: HTTPHeadLimits(), responseTimeout: timeout)
    } catch {
      await carrier.close()
      throw error
    }
  }

  /// The stream and response on `connection`, or `nil` when it has no room for one.
  @concurrent private static func open(
    _ connection: HTTP2Connection, request: HTTPRequestHead, maxStreams: Int?, timeout: Duration
  ) async throws -> ExtendedConnectOutcome? {
    try await withTaskExecutorPreference(connection.loop) {
      try await openOnLoop(connection, request: request, maxStreams: maxStreams, timeout: timeout)
    }
  }

  @concurrent private static func openOnLoop(
    _ connection: HTTP2Connection, request: HTTPRequestHead, maxStreams: Int?, timeout: Duration
  ) async throws -> ExtendedConnectOutcome? {
    guard await connection.waitForSettings(timeout: max(timeout, .milliseconds(1)), limit: maxStreams) else {
      if connection.enablesExtendedConnect { return nil }
      // Not offered: the connection serves nothing of ours.
      connection.goAway()
      return .notOffered("the server does not enable extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)")
    }
    let (stream, response) = try await connection.openWebSocket(request, timeout: max(timeout, .milliseconds(1)))
    return .stream(stream, response)
  }
}

extension LinuxTransportConnector: ExtendedConnectConnector {
  /// Opens a WebSocket as an extended CONNECT stream (RFC 8441) on the origin's HTTP/2 connection (made with ALPN
  /// `h2` when there is none with room), within `timeout`.
  package func openWebSocketStream(
    to endpoint: Endpoint, tls: TLSClientConfiguration, host: String, request: HTTPRequestHead,
    maxStreamsPerConnection: Int?, timeout: Duration
  ) async throws -> ExtendedConnectOutcome {
    try await http2.openWebSocketStream(
      HTTP2ClientPool.Origin(endpoint: endpoint, host: host, tls: tls), request: request,
      maxStreams: maxStreamsPerConnection, timeout: timeout, group: group)
  }
}
