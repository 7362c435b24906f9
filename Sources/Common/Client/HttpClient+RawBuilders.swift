extension HttpClient {
  /// Opens a raw session the caller closes: no automatic pong, no pinger, no reassembly (Ktor's
  /// `webSocketRawSession`, CIO engine only).
  public func webSocketRawSession(
    _ request: (inout HttpRequestBuilder) throws -> Void
  ) async throws -> ClientWebSocketSession {
    var builder = HttpRequestBuilder()
    try request(&builder)
    let (connection, call, subprotocol, _) = try await open(builder, mode: .raw)
    return ClientWebSocketSession(connection: connection, call: call, subprotocol: subprotocol)
  }

  /// `webSocketRawSession` to `urlString`.
  public func webSocketRawSession(
    _ urlString: String, _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> ClientWebSocketSession {
    try await webSocketRawSession { builder in
      try builder.url(urlString)
      try request(&builder)
    }
  }

  /// `webSocketRawSession` to `host:port/path`.
  public func webSocketRawSession(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> ClientWebSocketSession {
    try await webSocketRawSession { builder in
      builder.method = method
      builder.url = WebSocketURL(isSecure: false, host: host, port: port, path: path)
      try request(&builder)
    }
  }

  /// Runs `block` with a raw session, then closes it. If the block throws, the session closes with 1011 and the
  /// error is not rethrown: Ktor's choice for raw sessions, kept for parity.
  public func webSocketRaw(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    let session = try await webSocketRawSession(request)
    do {
      try await block(session)
      await session.close()
    } catch {
      await session.closeExceptionally(error)
    }
  }

  /// `webSocketRaw` to `urlString`.
  public func webSocketRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await webSocketRaw(
      request: { builder in
        try builder.url(urlString)
        try request(&builder)
      }, block)
  }

  /// `webSocketRaw` to `host:port/path`.
  public func webSocketRaw(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await webSocketRaw(
      request: { builder in
        builder.method = method
        builder.url = WebSocketURL(isSecure: false, host: host, port: port, path: path)
        try request(&builder)
      }, block)
  }

  /// Alias of `webSocketRaw` (Ktor's `wsRaw`).
  public func wsRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await webSocketRaw(urlString, request: request, block)
  }

  /// `webSocketRaw` over TLS: scheme forced to `wss`, port 443 by default (Ktor's `wssRaw`).
  public func wssRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await webSocketRaw(
      request: { builder in
        try builder.url(urlString)
        builder.url.isSecure = true
        try request(&builder)
      }, block)
  }
}
