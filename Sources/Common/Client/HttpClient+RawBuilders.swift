extension HttpClient {
  /// Opens the raw session for a built request; every raw form ends here.
  func rawSession(_ builder: HttpRequestBuilder) async throws -> RawClientWebSocketSession {
    let (connection, call, subprotocol, _) = try await open(builder, mode: .raw)
    return RawClientWebSocketSession(connection: connection, call: call, subprotocol: subprotocol)
  }

  /// Runs `block` with a raw session, then closes it. If the block throws, the session closes with 1011 and the
  /// error is not rethrown: Ktor's choice for raw sessions, kept for parity.
  func withRawSession(_ builder: HttpRequestBuilder, _ block: (RawClientWebSocketSession) async throws -> Void)
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
  ) async throws -> RawClientWebSocketSession {
    try await rawSession(.make(from: baseRequest(), request))
  }

  /// `webSocketRawSession` to `urlString`.
  public func webSocketRawSession(
    _ urlString: String, _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> RawClientWebSocketSession {
    try await rawSession(.make(from: baseRequest(), url: urlString, request))
  }

  /// `webSocketRawSession` to `host:port/path`.
  public func webSocketRawSession(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> RawClientWebSocketSession {
    try await rawSession(.make(from: baseRequest(), method: method, host: host, port: port, path: path, request))
  }

  /// Runs `block` with a raw session configured by `request` (Ktor's `webSocketRaw { }`).
  public func webSocketRaw(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(from: baseRequest(), request), block)
  }

  /// `webSocketRaw` to `urlString`.
  public func webSocketRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(from: baseRequest(), url: urlString, request), block)
  }

  /// `webSocketRaw` to `host:port/path`.
  public func webSocketRaw(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(
      .make(from: baseRequest(), method: method, host: host, port: port, path: path, request), block)
  }

  /// Alias of `webSocketRaw` (Ktor's `wsRaw`).
  public func wsRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(from: baseRequest(), url: urlString, request), block)
  }

  /// `webSocketRaw` over TLS: scheme forced to `wss`, port 443 by default (Ktor's `wssRaw`).
  public func wssRaw(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(from: baseRequest(), url: urlString, secure: true, request), block)
  }

  /// Alias of `webSocketRaw` with components (Ktor's `wsRaw(method, host, port, path)`).
  public func wsRaw(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(
      .make(from: baseRequest(), method: method, host: host, port: port, path: path, request), block)
  }

  /// `wssRaw` with components: scheme `wss`, port 443 unless given (Ktor's `wssRaw(host = ..., port = 443, path =
  /// ...)`).
  public func wssRaw(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(
      .make(from: baseRequest(), method: method, host: host, port: port, path: path, secure: true, request), block)
  }

  /// `wsRaw` with a request builder only.
  public func wsRaw(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(from: baseRequest(), request), block)
  }

  /// `wssRaw` with a request builder only: the scheme is forced to `wss`.
  public func wssRaw(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (RawClientWebSocketSession) async throws -> Void
  ) async throws {
    try await withRawSession(.make(from: baseRequest(), secure: true, request), block)
  }
}
