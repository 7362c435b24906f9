import WispCommon

/// The Linux `TransportConnector`: a socket on the next loop of a group, wrapped in TLS when asked.
package struct LinuxTransportConnector: TransportConnector {
  /// The loops that serve the connections.
  package let group: EventLoopGroup
  /// The HTTP/2 connections the client holds, shared by its sessions to each origin.
  let http2 = HTTP2ClientPool()

  /// Creates a connector on `group` (default: the process-wide group).
  package init(group: EventLoopGroup = .shared) {
    self.group = group
  }

  /// Connects, then runs the TLS handshake on the same loop when `tls` is set; both within `timeout`.
  package func connect(
    to endpoint: Endpoint, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport {
    let started = ContinuousClock.now
    let loop = group.next()
    let socket = try await SocketConnector.connect(to: endpoint, on: loop, timeout: timeout)
    guard var tls else { return socket }
    // The TLS handshake within what is left of `timeout` (and within its own limit).
    tls.handshakeTimeout = min(tls.handshakeTimeout, max(timeout - (ContinuousClock.now - started), .milliseconds(1)))
    let bounded = tls
    return try await withTaskExecutorPreference(loop) {
      try await Self.secure(socket, tls: bounded, host: host)
    }
  }

  /// Connects through `proxy` when given: a TCP connection to the proxy, the tunnel (HTTP `CONNECT` or SOCKS5),
  /// then TLS inside the tunnel for `wss`, verified against `host` end to end (the proxy sees only ciphertext).
  /// Everything within `timeout`: a proxy that stalls fails with `TransportError/timedOut(operation:limit:)`.
  package func connect(
    to endpoint: Endpoint, through proxy: Proxy?, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport {
    guard let proxy, case .host(let targetHost, let targetPort) = endpoint else {
      return try await connect(to: endpoint, tls: tls, host: host, timeout: timeout)
    }
    let started = ContinuousClock.now
    let loop = group.next()
    let socket = try await SocketConnector.connect(to: .host(proxy.host, port: proxy.port), on: loop, timeout: timeout)
    var carrier: any TLSCarrier = socket
    if proxy.kind == .https {
      // TLS to the proxy itself, verified against the proxy's name with the request's trust roots (no pins: they
      // are the server's); the server's TLS then runs inside this one.
      var proxyTLS = proxy.tls ?? tls ?? TLSClientConfiguration()
      proxyTLS.pinnedPublicKeySHA256 = []
      proxyTLS.serverName = nil
      proxyTLS.certificateChainFile = nil
      proxyTLS.privateKeyFile = nil
      carrier = try await withTaskExecutorPreference(loop) {
        try await Self.secure(socket, tls: proxyTLS, host: proxy.host)
      }
    }
    let remaining = timeout - (ContinuousClock.now - started)
    do {
      try await withTaskExecutorPreference(loop) {
        try await Self.tunnel(carrier, proxy: proxy, host: targetHost, port: targetPort, timeout: remaining)
      }
    } catch {
      await carrier.close()
      throw error
    }
    guard var tls else { return carrier }
    tls.handshakeTimeout = min(tls.handshakeTimeout, max(timeout - (ContinuousClock.now - started), .milliseconds(1)))
    let bounded = tls
    return try await withTaskExecutorPreference(loop) {
      try await Self.secure(carrier, tls: bounded, host: host)
    }
  }

  /// The tunnel on the loop, bounded by `timeout`.
  @concurrent private static func tunnel(
    _ socket: any TLSCarrier, proxy: Proxy, host: String, port: Int, timeout: Duration
  ) async throws {
    try await withTransportDeadline(
      socket, timeout: max(timeout, .milliseconds(1)), operation: "the tunnel through \(proxy)"
    ) {
      try await ProxyTunnel.open(over: socket, proxy: proxy, host: host, port: port)
    }
  }

  /// The TLS handshake; `@concurrent` so that it runs on the loop (the task's preference), never on a caller's
  /// actor such as the main actor.
  @concurrent static func secure(
    _ socket: any TLSCarrier, tls: TLSClientConfiguration, host: String, offersHTTP2: Bool = false
  ) async throws -> TLSTransport {
    do {
      let context = try TLSClientContextCache.shared.context(for: tls, offersHTTP2: offersHTTP2)
      return try await TLSTransport.connect(over: socket, host: host, configuration: tls, context: context)
    } catch {
      await socket.close()
      throw error
    }
  }
}
