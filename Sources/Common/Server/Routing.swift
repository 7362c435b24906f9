/// The routes of an ``Application`` (Ktor's `routing { }`), tried in the order they were added.
public struct Routing: Sendable {
  /// What a route does with a matching request.
  package enum Handler: Sendable {
    case webSocket(@Sendable (DefaultWebSocketServerSession) async throws -> Void)
    case rawWebSocket(negotiateExtensions: Bool, @Sendable (WebSocketServerSession) async throws -> Void)
    case http(method: String, @Sendable (ServerCall) async throws -> ServerResponse)

    package var isWebSocket: Bool {
      if case .http = self { return false }
      return true
    }
  }

  /// One route.
  package struct Route: Sendable {
    let path: PathPattern
    package let subprotocol: String?
    package let handler: Handler
    /// The upgrade checks of the route's groups, outermost first, then its own (WebSocket routes only).
    package var checks: [UpgradeCheck] = []
  }

  private(set) var routes: [Route] = []
  /// The path of the group being built (``route(_:beforeUpgrade:_:)``), without a trailing slash.
  private var prefix = ""
  /// The checks every WebSocket route added from now on in this group runs before its upgrade.
  private var checks: [UpgradeCheck] = []

  /// Creates an empty routing table.
  public init() {}

  /// A group of routes under `path` (Ktor's `route(path) { }`): the routes added in `build` have paths relative
  /// to it, and every WebSocket route among them runs `beforeUpgrade` (after the checks of enclosing groups)
  /// before its upgrade, so a whole group is behind one check (Ktor's `authenticate { }`).
  ///
  /// ```swift
  /// routing.route("/api", beforeUpgrade: { call in
  ///   guard let token = call.query("token") else { return .unauthorized() }
  ///   guard let user = await users.find(token: token) else { return .forbidden() }
  ///   return .accept(user)
  /// }) { api in
  ///   api.webSocket("/chat") { session in let user = session.call.attribute(User.self)! ... }
  ///   api.webSocket { session in ... }  // at /api itself
  /// }
  /// ```
  public mutating func route(
    _ path: String, beforeUpgrade check: UpgradeCheck? = nil, _ build: (inout Routing) -> Void
  ) {
    var group = Routing()
    group.prefix = Self.join(prefix, path)
    group.checks = checks + (check.map { [$0] } ?? [])
    build(&group)
    routes += group.routes
  }

  /// Adds a check that every WebSocket route added after it in this group (and its nested groups) runs before
  /// its upgrade, after the checks added before it.
  public mutating func beforeUpgrade(_ check: @escaping UpgradeCheck) {
    checks.append(check)
  }

  /// `prefix` and `path` as one path: `/api` + `/chat` is `/api/chat`, `/api` + `` (or `/`) is `/api`.
  static func join(_ prefix: String, _ path: String) -> String {
    let trimmedPrefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
    if path.isEmpty || path == "/" { return trimmedPrefix.isEmpty ? "/" : trimmedPrefix }
    return trimmedPrefix + (path.hasPrefix("/") ? path : "/" + path)
  }

  /// The full path of a route added in this group.
  private func fullPath(_ path: String) -> String {
    prefix.isEmpty ? path : Self.join(prefix, path)
  }

  /// A WebSocket route (Ktor's `webSocket(path, protocol)`): a GET that upgrades. With `protocol`, the route
  /// matches only clients that offer it in `Sec-WebSocket-Protocol`, and the 101 response echoes it.
  ///
  /// The handler's return sends Close 1000 and waits (bounded by the plugin's `timeout`) for the client's close; a
  /// throwing handler closes with 1011 and the error is logged.
  ///
  /// - Parameters:
  ///   - path: the route's path pattern (`/chat/{room}`, `/files/{path...}`), after its groups' prefix.
  ///   - subprotocol: the subprotocol the route requires and selects; `nil` for none.
  ///   - check: a check of this route alone, run after its groups' checks, before the 101.
  ///   - handler: the session's handler (Ktor's `DefaultWebSocketServerSession` block).
  public mutating func webSocket(
    _ path: String, protocol subprotocol: String? = nil, beforeUpgrade check: UpgradeCheck? = nil,
    _ handler: @escaping @Sendable (DefaultWebSocketServerSession) async throws -> Void
  ) {
    routes.append(
      Route(
        path: PathPattern(fullPath(path)), subprotocol: subprotocol, handler: .webSocket(handler),
        checks: checks + (check.map { [$0] } ?? [])))
  }

  /// A WebSocket route at the group's own path (Ktor's path-less `webSocket { }` inside a `route`).
  ///
  /// - Parameters:
  ///   - subprotocol: the subprotocol the route requires and selects; `nil` for none.
  ///   - check: a check of this route alone, run after its groups' checks, before the 101.
  ///   - handler: the session's handler.
  public mutating func webSocket(
    protocol subprotocol: String? = nil, beforeUpgrade check: UpgradeCheck? = nil,
    _ handler: @escaping @Sendable (DefaultWebSocketServerSession) async throws -> Void
  ) {
    webSocket("", protocol: subprotocol, beforeUpgrade: check, handler)
  }

  /// A raw WebSocket route: no automatic pong, no reassembly; every frame as it arrives. The handler's return
  /// flushes and closes the connection (the handler owns the close handshake).
  ///
  /// - Parameters:
  ///   - path: the route's path pattern, after its groups' prefix.
  ///   - subprotocol: the subprotocol the route requires and selects; `nil` for none.
  ///   - negotiateExtensions: whether extensions (permessage-deflate) are negotiated; their frames are then passed
  ///     as they are, with their reserved bits.
  ///   - check: a check of this route alone, run after its groups' checks, before the 101.
  ///   - handler: the raw session's handler.
  public mutating func webSocketRaw(
    _ path: String, protocol subprotocol: String? = nil, negotiateExtensions: Bool = false,
    beforeUpgrade check: UpgradeCheck? = nil,
    _ handler: @escaping @Sendable (WebSocketServerSession) async throws -> Void
  ) {
    routes.append(
      Route(
        path: PathPattern(fullPath(path)), subprotocol: subprotocol,
        handler: .rawWebSocket(negotiateExtensions: negotiateExtensions, handler),
        checks: checks + (check.map { [$0] } ?? [])))
  }

  /// A plain HTTP GET route (a HEAD request is answered with the same head and no body), for a health check or
  /// the page that opens the socket. Upgrade checks do not run for plain routes.
  public mutating func get(_ path: String, _ handler: @escaping @Sendable (ServerCall) async throws -> ServerResponse) {
    routes.append(Route(path: PathPattern(fullPath(path)), subprotocol: nil, handler: .http(method: "GET", handler)))
  }

  /// Whether any route is a WebSocket route (an HTTP/2 server then offers extended CONNECT, RFC 8441).
  package var hasWebSocketRoutes: Bool { routes.contains { $0.handler.isWebSocket } }

  /// The routes whose path matches, with their parameters, in order.
  package func matches(_ path: String) -> [(route: Route, parameters: [String: String])] {
    routes.compactMap { route in route.path.match(path).map { (route, $0) } }
  }
}
