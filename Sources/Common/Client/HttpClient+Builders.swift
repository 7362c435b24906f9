extension HttpClient {
  // MARK: Sessions the caller closes

  /// Opens a session the caller closes, configured by `request` (Ktor's `webSocketSession { }`).
  public func webSocketSession(
    _ request: (inout HttpRequestBuilder) throws -> Void
  ) async throws -> DefaultClientWebSocketSession {
    var builder = HttpRequestBuilder()
    try request(&builder)
    let (connection, call, subprotocol, config) = try await open(builder, mode: .default)
    await connection.start()
    return DefaultClientWebSocketSession(connection: connection, call: call, subprotocol: subprotocol, config: config)
  }

  /// Opens a session to `urlString` that the caller closes.
  public func webSocketSession(
    _ urlString: String, _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> DefaultClientWebSocketSession {
    try await webSocketSession { builder in
      try builder.url(urlString)
      try request(&builder)
    }
  }

  /// Opens a session to `host:port/path` that the caller closes.
  public func webSocketSession(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    _ request: (inout HttpRequestBuilder) throws -> Void = { _ in }
  ) async throws -> DefaultClientWebSocketSession {
    try await webSocketSession { builder in
      builder.method = method
      builder.url = WebSocketURL(isSecure: false, host: host, port: port, path: path)
      try request(&builder)
    }
  }

  // MARK: Sessions closed when the block returns

  /// Runs `block` with a session and closes it (1000) when the block returns, or (1011) when it throws; the
  /// block's error is rethrown (Ktor's `webSocket`).
  @discardableResult
  public func webSocket<Result>(
    request: (inout HttpRequestBuilder) throws -> Void, _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    let session = try await webSocketSession(request)
    do {
      let result = try await block(session)
      await session.close()
      return result
    } catch {
      await session.closeExceptionally(error)
      throw error
    }
  }

  /// `webSocket` to `urlString`.
  @discardableResult
  public func webSocket<Result>(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await webSocket(
      request: { builder in
        try builder.url(urlString)
        try request(&builder)
      }, block)
  }

  /// `webSocket` to `host:port/path`.
  @discardableResult
  public func webSocket<Result>(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await webSocket(
      request: { builder in
        builder.method = method
        builder.url = WebSocketURL(isSecure: false, host: host, port: port, path: path)
        try request(&builder)
      }, block)
  }

  /// Alias of `webSocket` (Ktor's `ws`).
  @discardableResult
  public func ws<Result>(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await webSocket(urlString, request: request, block)
  }

  /// Alias of `webSocket` with components.
  @discardableResult
  public func ws<Result>(
    method: String = "GET", host: String = "localhost", port: Int = 80, path: String = "/",
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await webSocket(method: method, host: host, port: port, path: path, request: request, block)
  }

  /// `webSocket` over TLS: the scheme is forced to `wss` and the port defaults to 443 (Ktor's `wss`).
  @discardableResult
  public func wss<Result>(
    _ urlString: String, request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await webSocket(
      request: { builder in
        try builder.url(urlString)
        builder.url.isSecure = true
        try request(&builder)
      }, block)
  }

  /// `wss` with components; the port defaults to 443.
  @discardableResult
  public func wss<Result>(
    method: String = "GET", host: String = "localhost", port: Int = 443, path: String = "/",
    request: (inout HttpRequestBuilder) throws -> Void = { _ in },
    _ block: (DefaultClientWebSocketSession) async throws -> Result
  ) async throws -> Result {
    try await webSocket(
      request: { builder in
        builder.method = method
        builder.url = WebSocketURL(isSecure: true, host: host, port: port, path: path)
        try request(&builder)
      }, block)
  }
}
