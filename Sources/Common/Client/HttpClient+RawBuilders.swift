extension HttpClient {
  /// Opens the raw session for a built request; every raw form ends here.
  func rawSession(_ builder: HttpRequestBuilder) async throws -> ClientWebSocketSession {
    let (connection, call, subprotocol, _) = try await open(builder, mode: .raw)
    return ClientWebSocketSession(connection: connection, call: call, subprotocol: subprotocol)
  }

  /// Runs `block` with a raw session, then closes it. If the block throws, the session closes with 1011 and the
  /// error is not rethrown: Ktor's choice for raw sessions, kept for parity.
  func withRawSession(_ builder: HttpRequestBuilder, _ block: (ClientWebSocketSession) async throws -> Void)
    async throws
  {
    let session = try await rawSession(builder)
    do {
      try await withTaskCancellationHandler {
        try await block(session)
      } onCancel: {
        session.cancel()
      }
      _ = try? await session.close()
    } catch {
      await session.closeExceptionally(error)
    }
  }

  /// Opens a raw session the caller closes: no automatic pong, no pinger, no reassembly (Ktor's
  /// `webSocketRawSession`, CIO engine only).
  public func webSocketRawSession(
    _ request: (inout HttpRequestBuilder) throws -> Void
  ) async throws -> ClientWebSocketSession {
    try await rawSession(.make(request))
  }

  /// `webSocketRawSession` to `urlString`.
  public func webSocketRawSession(
    _ urlString: String, _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> ClientWebSocketSession {
    try await rawSession(.make(url: urlString, request))
  }

  /// `webSocketRawSession` to `host:port/path`.
  public func webSocketRawSession(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> ClientWebSocketSession {
    try await rawSession(.make(method: method, host: host, port: port, path: path, request))
  }

  /// Runs `block` with a raw session configured by `request` (Ktor's `webSocketRaw { }`).
  public func webSocketRaw(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(request), block)
  }

  /// `webSocketRaw` to `urlString`.
  public func webSocketRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(url: urlString, request), block)
  }

  /// `webSocketRaw` to `host:port/path`.
  public func webSocketRaw(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(method: method, host: host, port: port, path: path, request), block)
  }

  /// Alias of `webSocketRaw` (Ktor's `wsRaw`).
  public func wsRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(url: urlString, request), block)
  }

  /// `webSocketRaw` over TLS: scheme forced to `wss`, port 443 by default (Ktor's `wssRaw`).
  public func wssRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (ClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(url: urlString, secure: true, request), block)
  }
}
