/// A check that runs before a WebSocket upgrade is answered (Ktor's `authenticate { }` around `webSocket` routes,
/// Hummingbird's `shouldUpgrade`, Node's `handleUpgrade`): it sees the request (``ServerCall``: method, path and
/// its parameters, query, headers, cookies, remote address, the TLS client certificate) and decides.
///
/// It may await (a token lookup), within ``WebSockets/ServerConfig/upgradeCheckTimeout``; one that runs longer is
/// answered 503, one that throws 500, both without detail for the client (the error goes to the log). Like a
/// handler, it runs on the connection's event loop (so that a busy global pool does not delay it): await slow work,
/// never block the thread or spin.
public typealias UpgradeCheck = @Sendable (ServerCall) async throws -> UpgradeDecision

/// What an ``UpgradeCheck`` decides: accept (with headers for the 101 and values for the handler), or refuse with
/// an HTTP answer before any upgrade.
public struct UpgradeDecision: Sendable {
  enum Kind: Sendable {
    case accept(headers: HTTPHeaders, attributes: CallAttributes)
    case refuse(ServerResponse)
  }

  let kind: Kind

  /// Accepts; `headers` (for example `Set-Cookie`) are added to the 101 response. Headers the handshake owns
  /// (`Upgrade`, `Connection`, `Sec-WebSocket-*`) cannot be replaced this way and are dropped.
  public static func accept(headers: HTTPHeaders = [:]) -> UpgradeDecision {
    UpgradeDecision(kind: .accept(headers: headers, attributes: CallAttributes()))
  }

  /// Accepts and hands `value` (the authenticated user, a tenant) to the handler, which reads it with
  /// `session.call.attribute(Value.self)`; values are kept by type, a later check's value of the same type wins.
  public static func accept<Value: Sendable>(_ value: Value, headers: HTTPHeaders = [:]) -> UpgradeDecision {
    var attributes = CallAttributes()
    attributes.set(value)
    return UpgradeDecision(kind: .accept(headers: headers, attributes: attributes))
  }

  /// Refuses with `response` (a status, headers such as `WWW-Authenticate`, a small body); the connection closes.
  public static func refuse(_ response: ServerResponse) -> UpgradeDecision {
    UpgradeDecision(kind: .refuse(response))
  }

  /// Refuses with `status` and a plain-text `reason` (the body), plus `headers`.
  public static func refuse(status: Int, reason: String = "", headers: HTTPHeaders = [:]) -> UpgradeDecision {
    var response = ServerResponse.text(reason.isEmpty ? "" : reason + "\n", status: status)
    for field in headers { response.headers.add(name: field.name, value: field.value) }
    return .refuse(response)
  }

  /// 401 with a `WWW-Authenticate` challenge (RFC 9110 section 11.6.1), for a missing or unreadable credential.
  public static func unauthorized(challenge: String = "Bearer", reason: String = "authentication required")
    -> UpgradeDecision
  {
    .refuse(status: 401, reason: reason, headers: ["WWW-Authenticate": challenge])
  }

  /// 403, for a credential that is understood but not allowed here.
  public static func forbidden(reason: String = "forbidden") -> UpgradeDecision {
    .refuse(status: 403, reason: reason)
  }
}
