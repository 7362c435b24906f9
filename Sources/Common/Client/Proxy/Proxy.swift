/// A proxy the client reaches its server through: HTTP `CONNECT` or SOCKS5 (RFC 1928, with RFC 1929
/// username/password authentication).
public struct Proxy: Sendable, Hashable, CustomStringConvertible {
  /// The proxy's protocol.
  public enum Kind: Sendable, Hashable {
    /// HTTP `CONNECT` (RFC 9110 section 9.3.6), `http://` proxy URLs.
    case http
    /// HTTP `CONNECT` over TLS to the proxy, `https://` proxy URLs. The proxy's certificate is verified against
    /// its name with the request's trust roots; `wss` then runs TLS to the server inside that TLS.
    case https
    /// SOCKS5 with the server's name resolved here, `socks5://`.
    case socks5
    /// SOCKS5 with the server's name sent to the proxy, which resolves it, `socks5h://`.
    case socks5h
  }

  /// The protocol.
  public var kind: Kind
  /// The proxy's host.
  public var host: String
  /// The proxy's port.
  public var port: Int
  /// The user name for Basic (`Proxy-Authorization`) or SOCKS5 username/password authentication; `nil` for none.
  public var username: String?
  /// The password that goes with ``username``.
  public var password: String?
  /// TLS to an `https://` proxy: the trust roots (and options) its certificate is verified with, against
  /// ``host``. `nil` (default): the request's TLS settings for `wss`, the system's trust store otherwise.
  public var tls: TLSClientConfiguration?

  /// Creates a proxy.
  public init(kind: Kind, host: String, port: Int, username: String? = nil, password: String? = nil) {
    self.kind = kind
    self.host = host
    self.port = port
    self.username = username
    self.password = password
  }

  /// Parses a proxy URL: `http://[user:password@]host[:port]` (port 80 by default), `https://` (443), `socks5://`
  /// and `socks5h://` (1080); `socks://` means `socks5://`. User name and password are percent-decoded. A URL
  /// without a scheme is taken as `http://`, as curl does. `nil` for anything else.
  public init?(url text: String) {
    var rest = Substring(text)
    var kind = Kind.http
    if let separator = text.firstRange(of: "://") {
      switch text[..<separator.lowerBound].lowercased() {
      case "http": kind = .http
      case "https": kind = .https
      case "socks5", "socks": kind = .socks5
      case "socks5h": kind = .socks5h
      default: return nil
      }
      rest = text[separator.upperBound...]
    }
    if let slash = rest.firstIndex(of: "/") {
      guard rest[slash...].allSatisfy({ $0 == "/" }) else { return nil }
      rest = rest[..<slash]
    }
    var username: String?
    var password: String?
    if let at = rest.lastIndex(of: "@") {
      let credentials = rest[..<at]
      rest = rest[rest.index(after: at)...]
      let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
      username = PercentDecoding.decode(parts[0], plusIsSpace: false)
      password = parts.count > 1 ? PercentDecoding.decode(parts[1], plusIsSpace: false) : ""
      guard username != nil, password != nil else { return nil }
    }
    guard let authority = HostAndPort(String(rest)) else { return nil }
    let host = authority.host.hasPrefix("[") ? String(authority.host.dropFirst().dropLast()) : authority.host
    let defaultPort =
      switch kind {
      case .http: 80
      case .https: 443
      case .socks5, .socks5h: 1080
      }
    self.init(kind: kind, host: host, port: authority.port ?? defaultPort, username: username, password: password)
  }

  /// The proxy URL without the password.
  public var description: String {
    let scheme =
      switch kind {
      case .http: "http"
      case .https: "https"
      case .socks5: "socks5"
      case .socks5h: "socks5h"
      }
    let name = host.contains(":") ? "[\(host)]" : host
    return "\(scheme)://\(username.map { "\($0)@" } ?? "")\(name):\(port)"
  }
}

/// Where the client takes its proxy from (``WebSockets/Config/proxy``, ``HttpRequestBuilder/proxy``).
public enum ProxySetting: Sendable, Hashable {
  /// Always direct.
  case direct
  /// From the environment, as curl and most tools do: `https_proxy`/`HTTPS_PROXY` for `wss`, `http_proxy`/
  /// `HTTP_PROXY` for `ws`, else `all_proxy`/`ALL_PROXY`; `no_proxy`/`NO_PROXY` lists hosts reached directly
  /// (see `ProxyEnvironment`). Lower-case names win. Unix-socket URLs never use a proxy.
  case environment
  /// This proxy for every request (still not for Unix-socket URLs).
  case fixed(Proxy)
}

/// Why connecting through a proxy failed.
public enum ProxyError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The HTTP proxy answered 407 (or 401): credentials are missing or wrong.
  case authenticationRequired(proxy: String)
  /// The HTTP proxy answered `CONNECT` with another status than 2xx.
  case refused(proxy: String, status: Int, reason: String)
  /// The SOCKS5 proxy accepts none of the offered authentication methods (no credentials given, or it wants
  /// others).
  case noAcceptableAuthentication(proxy: String)
  /// The SOCKS5 proxy rejected the user name and password.
  case authenticationFailed(proxy: String)
  /// The SOCKS5 proxy could not connect to the server (RFC 1928 section 6's reply code, with its meaning).
  case socksConnectFailed(proxy: String, code: UInt8, meaning: String)
  /// The proxy answered something that is not its protocol.
  case malformedResponse(proxy: String, detail: String)
  /// This kind of proxy cannot be used here.
  case unsupported(String)

  /// A sentence that says what failed.
  public var description: String {
    switch self {
    case .authenticationRequired(let proxy):
      "the proxy \(proxy) requires authentication (407): give a user name and password in the proxy URL"
    case .refused(let proxy, let status, let reason): "the proxy \(proxy) refused the tunnel: \(status) \(reason)"
    case .noAcceptableAuthentication(let proxy):
      "the SOCKS5 proxy \(proxy) accepts none of the offered authentication methods"
    case .authenticationFailed(let proxy): "the SOCKS5 proxy \(proxy) rejected the user name and password"
    case .socksConnectFailed(let proxy, let code, let meaning):
      "the SOCKS5 proxy \(proxy) could not connect to the server: \(meaning) (reply \(code))"
    case .malformedResponse(let proxy, let detail): "the proxy \(proxy) answered garbage: \(detail)"
    case .unsupported(let what): what
    }
  }
}
