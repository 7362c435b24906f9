/// How the client follows a redirect answering its upgrade request (``WebSockets/Config/maxRedirects``).
enum RedirectRule {
  /// The statuses followed: RFC 9110 section 15.4's redirects that name a new location.
  static let statuses: Set<Int> = [301, 302, 303, 307, 308]

  /// The request for the next hop after a redirect from `request` to `location`, or why it is not followed.
  ///
  /// `location` is an absolute `ws`, `wss`, `http` or `https` URL, or an absolute path on the same server (a
  /// relative reference such as `chat` resolves against the current path's directory). A redirect from `wss` to
  /// `ws` is refused (it would drop TLS); when the host or port changes, `Authorization` and `Cookie` headers are
  /// not sent on (credentials meant for one server).
  static func next(after request: HttpRequestBuilder, to location: String) throws(WebSocketException)
    -> HttpRequestBuilder
  {
    let current = request.url
    var target: WebSocketURL
    if let absolute = WebSocketURL(location), location.contains("://") || location.contains("+unix:") {
      target = absolute
    } else if location.hasPrefix("//") {
      guard let absolute = WebSocketURL((current.isSecure ? "wss:" : "ws:") + location) else {
        throw WebSocketException("the redirect's Location \"\(location)\" is not a WebSocket URL")
      }
      target = absolute
    } else {
      guard !location.isEmpty, !location.contains("#") else {
        throw WebSocketException("the redirect's Location \"\(location)\" is not a WebSocket URL")
      }
      target = current
      let directory =
        current.path.hasSuffix("/")
        ? current.path : String(current.path[...(current.path.lastIndex(of: "/") ?? current.path.startIndex)])
      let reference = location.hasPrefix("/") ? location : directory + location
      let mark = reference.firstIndex(of: "?")
      target.path = String(mark.map { reference[..<$0] } ?? reference[...])
      target.query = mark.map { String(reference[reference.index(after: $0)...]) }
    }
    if current.isSecure && !target.isSecure {
      throw WebSocketException("refusing a redirect from \(current) to \(target): it would drop TLS (wss to ws)")
    }
    var next = request
    next.url = target
    let sameServer =
      current.host.lowercased() == target.host.lowercased() && current.port == target.port
      && current.unixSocketPath == target.unixSocketPath
    if !sameServer {
      next.headers.remove(name: "Authorization")
      next.headers.remove(name: "Cookie")
    }
    return next
  }
}
