extension HttpClient {
  /// Opens the session for a built request; every `webSocketSession` form ends here.
  func session(_ builder: HttpRequestBuilder) async throws -> DefaultClientWebSocketSession {
    let (connection, call, subprotocol, config) = try await open(builder, mode: .default)
    await connection.start()
    return DefaultClientWebSocketSession(connection: connection, call: call, subprotocol: subprotocol, config: config)
  }

  /// Runs `block` with a session and closes it (1000) when the block returns, or (1011) when it throws; the
  /// block's error is rethrown (Ktor's `webSocket`). Cancelling the task that runs the block cancels the session:
  /// a waiting receive throws `CancellationError` and the session closes with 1001 within the close timeout. Every
  /// `webSocket`/`ws`/`wss` form ends here.
  func withSession<Result>(
    _ builder: HttpRequestBuilder, _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    let session = try await session(builder)
    do {
      let result = try await withTaskCancellationHandler {
        try await block(session)
      } onCancel: {
        session.cancel()
      }
      _ = try? await session.close()
      return result
    } catch {
      await session.closeExceptionally(error)
      throw error
    }
  }

  // MARK: Sessions the caller closes

  /// Opens a session the caller closes, configured by `request` (Ktor's `webSocketSession { }`).
  public func webSocketSession(
    _ request: (inout HttpRequestBuilder) throws -> Void
  ) async throws -> DefaultClientWebSocketSession {
    try await session(.make(from: baseRequest(), request))
  }

  /// Opens a session to `urlString` that the caller closes.
  public func webSocketSession(
    _ urlString: String, _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> DefaultClientWebSocketSession {
    try await session(.make(from: baseRequest(), url: urlString, request))
  }

  /// Opens a session to `host:port/path` that the caller closes. A component left `nil` comes from the client's
  /// default request, else `localhost`, the scheme's port (80, 443 for `wss`) and `/`.
  public func webSocketSession(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> DefaultClientWebSocketSession {
    try await session(.make(from: baseRequest(), method: method, host: host, port: port, path: path, request))
  }

  // MARK: Sessions closed when the block returns

  /// Runs `block` with a session configured by `request`, closing it afterwards (Ktor's `webSocket { }`).
  @discardableResult
  public func webSocket<Result>(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(.make(from: baseRequest(), request), block)
  }

  /// `webSocket` to `urlString`.
  @discardableResult
  public func webSocket<Result>(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(.make(from: baseRequest(), url: urlString, request), block)
  }

  /// `webSocket` to `host:port/path`.
  @discardableResult
  public func webSocket<Result>(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(
      .make(from: baseRequest(), method: method, host: host, port: port, path: path, request), block)
  }

  /// Alias of `webSocket` (Ktor's `ws`).
  @discardableResult
  public func ws<Result>(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(.make(from: baseRequest(), url: urlString, request), block)
  }

  /// Alias of `webSocket` with components.
  @discardableResult
  public func ws<Result>(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(
      .make(from: baseRequest(), method: method, host: host, port: port, path: path, request), block)
  }

  /// `webSocket` over TLS: the scheme is forced to `wss` and the port defaults to 443 (Ktor's `wss`).
  @discardableResult
  public func wss<Result>(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(.make(from: baseRequest(), url: urlString, secure: true, request), block)
  }

  /// `wss` with components; the port defaults to 443 (or the default request's port when it is `wss` too).
  @discardableResult
  public func wss<Result>(
    method: HttpMethod = .get, host: String? = nil, port: Int? = nil, path: String? = nil,
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(
      .make(from: baseRequest(), method: method, host: host, port: port, path: path, secure: true, request), block)
  }

  /// `wss` with positional host, port and path, as Ktor's `client.wss("api.example.com", 443, "/websocket") { }`.
  @discardableResult
  public func wss<Result>(
    _ host: String, _ port: Int, _ path: String = "/", request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await wss(host: host, port: port, path: path, request: request, block)
  }

  /// Alias of `webSocket` with a request builder only (Ktor's `ws { url(...) }`).
  @discardableResult
  public func ws<Result>(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(.make(from: baseRequest(), request), block)
  }

  /// `webSocket` over TLS with a request builder only: the scheme is forced to `wss` (Ktor's `wss { }`).
  @discardableResult
  public func wss<Result>(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await withSession(.make(from: baseRequest(), secure: true, request), block)
  }
}
