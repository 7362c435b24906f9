/// A parsed `ws://` or `wss://` URL (RFC 6455 section 3): scheme, host, port and request target.
public struct WebSocketURL: Sendable, Hashable, CustomStringConvertible {
  /// `true` for `wss` (and `https`), which runs over TLS.
  public var isSecure: Bool
  /// The host: a name, an IPv4 literal, or an IPv6 literal without brackets.
  public var host: String
  /// The port; defaults to 80 for `ws` and 443 for `wss` ("port component is OPTIONAL; the default for 'ws' is
  /// port 80, while the default for 'wss' is port 443").
  public var port: Int
  /// The path, starting with `/`.
  public var path: String
  /// The query without `?`, or `nil`.
  public var query: String?
  /// A Unix domain socket to connect to instead of `host` and `port` (`ws+unix:` URLs); `nil` for TCP. The
  /// `Host` header is still `host` (`localhost` for `ws+unix:`).
  public var unixSocketPath: String?

  /// Creates a URL from components.
  public init(isSecure: Bool, host: String, port: Int? = nil, path: String = "/", query: String? = nil) {
    self.isSecure = isSecure
    self.host = host
    self.port = port ?? (isSecure ? 443 : 80)
    self.path = path.hasPrefix("/") ? path : "/" + path
    self.query = query
  }

  /// Parses `ws://`, `wss://` (and `http://`, `https://`, which map to them); `nil` for anything else, or for a URL
  /// with a fragment ("Fragment identifiers are meaningless in the context of WebSocket URIs and MUST NOT be used",
  /// RFC 6455 section 3).
  ///
  /// `ws+unix:` and `wss+unix:` (Node's `ws` form) name a Unix domain socket and the request path, separated by
  /// the first `:` after the socket's path: `ws+unix:///run/app.sock:/chat?room=1` (or `ws+unix:/run/app.sock:/chat`).
  public init?(_ text: String) {
    let lower = text.lowercased()
    for (prefix, secure) in [("ws+unix:", false), ("wss+unix:", true)] where lower.hasPrefix(prefix) {
      var rest = text.dropFirst(prefix.count)
      if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
      guard !rest.contains("#") else { return nil }
      let separator = rest.firstIndex(of: ":") ?? rest.endIndex
      let socketPath = rest[..<separator]
      guard socketPath.hasPrefix("/"), socketPath.count > 1 else { return nil }
      let target = separator == rest.endIndex ? "" : rest[rest.index(after: separator)...]
      let mark = target.firstIndex(of: "?")
      let path = mark.map { target[..<$0] } ?? target
      self.init(
        isSecure: secure, host: "localhost", path: path.isEmpty ? "/" : String(path),
        query: mark.map { String(target[target.index(after: $0)...]) })
      unixSocketPath = String(socketPath)
      return
    }
    let secure: Bool
    let rest: Substring
    if lower.hasPrefix("ws://") {
      secure = false
      rest = text.dropFirst(5)
    } else if lower.hasPrefix("wss://") {
      secure = true
      rest = text.dropFirst(6)
    } else if lower.hasPrefix("http://") {
      secure = false
      rest = text.dropFirst(7)
    } else if lower.hasPrefix("https://") {
      secure = true
      rest = text.dropFirst(8)
    } else {
      return nil
    }
    guard !rest.contains("#") else { return nil }
    let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
    let authority = rest[..<authorityEnd]
    let target = rest[authorityEnd...]
    guard !authority.isEmpty, !authority.contains("@") else { return nil }
    var host: Substring
    var port: Int?
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else { return nil }
      host = authority[authority.index(after: authority.startIndex)..<close]
      let after = authority[authority.index(after: close)...]
      if after.hasPrefix(":") {
        guard let value = Int(after.dropFirst()), (1...65535).contains(value) else { return nil }
        port = value
      } else if !after.isEmpty {
        return nil
      }
    } else if let colon = authority.lastIndex(of: ":") {
      host = authority[..<colon]
      guard let value = Int(authority[authority.index(after: colon)...]), (1...65535).contains(value) else {
        return nil
      }
      port = value
    } else {
      host = authority
    }
    guard !host.isEmpty else { return nil }
    var path = "/"
    var query: String?
    if let mark = target.firstIndex(of: "?") {
      let pathPart = target[..<mark]
      path = pathPart.isEmpty ? "/" : String(pathPart)
      query = String(target[target.index(after: mark)...])
    } else if !target.isEmpty {
      path = String(target)
    }
    self.init(isSecure: secure, host: String(host), port: port, path: path, query: query)
  }

  /// `reference` resolved against this URL (RFC 3986 section 5.2.2, for references without a scheme): `//host/p`
  /// keeps the scheme, `/p` replaces the path and query, `?q` the query, `p` is merged with this path's directory,
  /// and `.` and `..` segments are removed. `nil` for a fragment or an empty authority.
  public func resolving(_ reference: String) -> WebSocketURL? {
    guard !reference.contains("#") else { return nil }
    if reference.hasPrefix("//") { return WebSocketURL((isSecure ? "wss:" : "ws:") + reference) }
    var resolved = self
    resolved.unixSocketPath = unixSocketPath
    let mark = reference.firstIndex(of: "?")
    let pathPart = String(mark.map { reference[..<$0] } ?? reference[...])
    let queryPart = mark.map { String(reference[reference.index(after: $0)...]) }
    if pathPart.isEmpty {
      resolved.query = queryPart ?? query
      return resolved
    }
    let merged =
      pathPart.hasPrefix("/") ? pathPart : String(path[...(path.lastIndex(of: "/") ?? path.startIndex)]) + pathPart
    resolved.path = Self.removingDotSegments(merged)
    resolved.query = queryPart
    return resolved
  }

  /// RFC 3986 section 5.2.4: `/a/./b/../c` is `/a/c`.
  private static func removingDotSegments(_ path: String) -> String {
    var output: [Substring] = []
    let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    for (index, segment) in segments.enumerated() {
      let last = index == segments.count - 1
      switch segment {
      case ".": if last { output.append("") }
      case "..":
        if !output.isEmpty { output.removeLast() }
        if last { output.append("") }
      default: output.append(segment)
      }
    }
    return "/" + output.joined(separator: "/")
  }

  /// The request target: path and query.
  public var target: String { query.map { "\(path)?\($0)" } ?? path }

  /// The `Host` header: the host, bracketed when IPv6, with the port unless it is the scheme's default.
  public var hostHeader: String {
    let name = host.contains(":") ? "[\(host)]" : host
    return port == (isSecure ? 443 : 80) ? name : "\(name):\(port)"
  }

  /// `ws://host:port/path?query`, or `ws+unix:///socket/path:/path?query`.
  public var description: String {
    if let unixSocketPath { return "\(isSecure ? "wss" : "ws")+unix://\(unixSocketPath):\(target)" }
    return "\(isSecure ? "wss" : "ws")://\(hostHeader)\(target)"
  }
}
