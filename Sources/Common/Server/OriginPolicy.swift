/// Which browser origins may open WebSockets on this server.
///
/// Browsers send cookies and HTTP authentication with a WebSocket upgrade to any site, whatever page opened it, and
/// WebSockets are not bound by the same-origin policy: without a check, a page on `evil.example` can open a socket
/// to your server with your user's cookies and act as them (Cross-Site WebSocket Hijacking). Browsers always send
/// `Origin` with the upgrade, and a page cannot forge it; checking it closes the hole. Clients that are not browsers
/// send no `Origin` (or any they like), so the policy never refuses a request without one: authenticate those by a
/// credential (an ``UpgradeCheck``).
///
/// A refused origin gets 403 before any upgrade. Default ``any`` (as Ktor and python-websockets); a server that
/// relies on cookies should use ``sameOrigin`` or an allow list.
public struct OriginPolicy: Sendable {
  enum Rule: Sendable {
    case any
    case sameOrigin
    case allowList([OriginPattern])
    case custom(@Sendable (String, ServerCall) -> Bool)
  }

  let rule: Rule

  /// Every origin (the default).
  public static let any = OriginPolicy(rule: .any)

  /// Only pages served by this server: the `Origin`'s host and port equal the request's `Host` (a port left out
  /// is the default of the origin's scheme, 80 or 443).
  public static let sameOrigin = OriginPolicy(rule: .sameOrigin)

  /// Only the listed origins: exact ones (`https://app.example.com`, `http://localhost:8080`) and patterns whose
  /// host starts with `*.` (`https://*.example.com` matches any subdomain, not `example.com` itself). An entry
  /// without a scheme (`*.example.com`, `example.com:8443`) matches `http` and `https`. `null` allows the opaque
  /// origin of sandboxed pages and files.
  public static func allowList(_ origins: [String]) -> OriginPolicy {
    OriginPolicy(rule: .allowList(origins.map(OriginPattern.init)))
  }

  /// Your own rule: `allows(origin, call)` for every request that carries an `Origin`.
  public static func custom(_ allows: @escaping @Sendable (_ origin: String, _ call: ServerCall) -> Bool)
    -> OriginPolicy
  {
    OriginPolicy(rule: .custom(allows))
  }

  /// Whether a request with `origin` (its `Origin` header) and `host` (its `Host` header) is allowed.
  func allows(origin: String, host: String?, call: ServerCall) -> Bool {
    switch rule {
    case .any:
      return true
    case .custom(let allows):
      return allows(origin, call)
    case .sameOrigin:
      guard let parsed = WebOrigin(origin), let host, let target = HostAndPort(host) else { return false }
      return parsed.host == target.host && parsed.port == (target.port ?? WebOrigin.defaultPort(parsed.scheme))
    case .allowList(let patterns):
      let trimmed = origin.lowercased()
      if trimmed == "null" { return patterns.contains { $0.isNull } }
      guard let parsed = WebOrigin(origin) else { return false }
      return patterns.contains { $0.matches(parsed) }
    }
  }
}

/// A serialized origin, `scheme://host[:port]` (RFC 6454 section 6.1), parsed and normalized: lower case, the port
/// made explicit.
struct WebOrigin: Hashable {
  let scheme: String
  let host: String
  let port: Int

  static func defaultPort(_ scheme: String) -> Int { scheme == "https" || scheme == "wss" ? 443 : 80 }

  init?(_ text: String) {
    let lowered = text.lowercased()
    guard let separator = lowered.firstRange(of: "://") else { return nil }
    let scheme = String(lowered[..<separator.lowerBound])
    let rest = String(lowered[separator.upperBound...])
    guard !scheme.isEmpty, !rest.isEmpty, !rest.contains("/"), let hostAndPort = HostAndPort(rest) else { return nil }
    self.scheme = scheme
    self.host = hostAndPort.host
    self.port = hostAndPort.port ?? Self.defaultPort(scheme)
  }
}

/// `host[:port]` as in a `Host` header or an origin: a name, an IPv4 address or a bracketed IPv6 literal.
struct HostAndPort: Hashable {
  let host: String
  let port: Int?

  init?(_ text: String) {
    let lowered = text.lowercased()
    if lowered.hasPrefix("[") {
      guard let close = lowered.firstIndex(of: "]") else { return nil }
      host = String(lowered[...close])
      let rest = lowered[lowered.index(after: close)...]
      if rest.isEmpty {
        port = nil
      } else {
        guard rest.hasPrefix(":"), let number = Int(rest.dropFirst()), (1...65535).contains(number) else { return nil }
        port = number
      }
      return
    }
    let parts = lowered.split(separator: ":", omittingEmptySubsequences: false)
    guard !parts[0].isEmpty, parts.count <= 2 else { return nil }
    host = String(parts[0])
    if parts.count == 2 {
      guard let number = Int(parts[1]), (1...65535).contains(number) else { return nil }
      port = number
    } else {
      port = nil
    }
  }
}

/// One entry of an origin allow list.
struct OriginPattern: Sendable {
  let scheme: String?
  /// The host, or the suffix after `*` (`.example.com`) for a wildcard.
  let host: String
  let wildcard: Bool
  let port: Int?
  let isNull: Bool

  init(_ text: String) {
    var rest = text.lowercased()
    isNull = rest == "null"
    if let separator = rest.firstRange(of: "://") {
      scheme = String(rest[..<separator.lowerBound])
      rest = String(rest[separator.upperBound...])
    } else {
      scheme = nil
    }
    wildcard = rest.hasPrefix("*.")
    if wildcard { rest.removeFirst() }
    let parsed = HostAndPort(rest)
    host = parsed?.host ?? rest
    port = parsed?.port
  }

  func matches(_ origin: WebOrigin) -> Bool {
    if isNull { return false }
    if let scheme, scheme != origin.scheme { return false }
    if scheme == nil, origin.scheme != "http" && origin.scheme != "https" { return false }
    let expectedPort = port ?? (scheme.map(WebOrigin.defaultPort) ?? WebOrigin.defaultPort(origin.scheme))
    guard origin.port == expectedPort else { return false }
    return wildcard ? origin.host.hasSuffix(host) && origin.host.count > host.count : origin.host == host
  }
}
