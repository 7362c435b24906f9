/// The routes of an ``Application`` (Ktor's `routing { }`), tried in the order they were added.
public struct Routing: Sendable {
  /// What a route does with a matching request.
  enum Handler: Sendable {
    case webSocket(@Sendable (DefaultWebSocketServerSession) async throws -> Void)
    case rawWebSocket(negotiateExtensions: Bool, @Sendable (WebSocketServerSession) async throws -> Void)
    case http(method: String, @Sendable (ServerCall) async throws -> ServerResponse)

    var isWebSocket: Bool {
      if case .http = self { return false }
      return true
    }
  }

  /// One route.
  struct Route: Sendable {
    let path: PathPattern
    let subprotocol: String?
    let handler: Handler
  }

  private(set) var routes: [Route] = []

  /// Creates an empty routing table.
  public init() {}

  /// A WebSocket route (Ktor's `webSocket(path, protocol)`): a GET that upgrades. With `protocol`, the route
  /// matches only clients that offer it in `Sec-WebSocket-Protocol`, and the 101 response echoes it.
  ///
  /// The handler's return sends Close 1000 and waits (bounded by the plugin's `timeout`) for the client's close; a
  /// throwing handler closes with 1011 and the error is logged.
  public mutating func webSocket(
    _ path: String, protocol subprotocol: String? = nil,
    _ handler: @escaping @Sendable (DefaultWebSocketServerSession) async throws -> Void
  ) {
    routes.append(Route(path: PathPattern(path), subprotocol: subprotocol, handler: .webSocket(handler)))
  }

  /// A raw WebSocket route: no automatic pong, no reassembly; every frame as it arrives. The handler's return
  /// flushes and closes the connection (the handler owns the close handshake).
  ///
  /// - Parameter negotiateExtensions: whether extensions (permessage-deflate) are negotiated; their frames are
  ///   then passed as they are, with their reserved bits.
  public mutating func webSocketRaw(
    _ path: String, protocol subprotocol: String? = nil, negotiateExtensions: Bool = false,
    _ handler: @escaping @Sendable (WebSocketServerSession) async throws -> Void
  ) {
    routes.append(
      Route(
        path: PathPattern(path), subprotocol: subprotocol,
        handler: .rawWebSocket(negotiateExtensions: negotiateExtensions, handler)))
  }

  /// A plain HTTP GET route (a HEAD request is answered with the same head and no body), for a health check or
  /// the page that opens the socket.
  public mutating func get(_ path: String, _ handler: @escaping @Sendable (ServerCall) async throws -> ServerResponse) {
    routes.append(Route(path: PathPattern(path), subprotocol: nil, handler: .http(method: "GET", handler)))
  }

  /// The routes whose path matches, with their parameters, in order.
  func matches(_ path: String) -> [(route: Route, parameters: [String: String])] {
    routes.compactMap { route in route.path.match(path).map { (route, $0) } }
  }
}
