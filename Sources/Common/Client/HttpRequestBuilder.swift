/// The request of a WebSocket builder: URL, headers, subprotocols and TLS options (Ktor's `HttpRequestBuilder`).
public struct HttpRequestBuilder: Sendable {
  /// The target URL; builders set it from their arguments, `url(_:)` replaces it.
  public var url: WebSocketURL = WebSocketURL(isSecure: false, host: "localhost")
  /// Extra request headers (custom headers, `Origin`, cookies).
  public var headers = HTTPHeaders()
  /// Subprotocols offered, in preference order, added to those of the plugin's configuration.
  public var subprotocols: [String] = []
  /// TLS settings for `wss` (trust roots, client certificate, pins). Default: system trust, hostname verified.
  public var tls = TLSClientConfiguration()
  /// The HTTP method (Ktor's `method = HttpMethod.Get`); the opening handshake requires GET (RFC 6455 section 4.1).
  public var method: HttpMethod = .get
  /// The proxy for this request; `nil` (default) takes the plugin's ``WebSockets/Config/proxy``.
  public var proxy: ProxySetting?
  /// Redirects followed for this request; `nil` (default) takes the plugin's ``WebSockets/Config/maxRedirects``.
  public var maxRedirects: Int?
  /// Connect to this Unix domain socket instead of the URL's host and port (the URL still gives the `Host` header,
  /// the path and the query); the same as a `ws+unix:` URL. Default `nil`: TCP.
  public var unixSocketPath: String? {
    get { url.unixSocketPath }
    set { url.unixSocketPath = newValue }
  }

  /// Creates a builder for `ws://localhost/`.
  public init() {}

  /// The URL relative references resolve against: the client's default request (`defaultRequest`, the test
  /// host's `ws://localhost`); `nil` when there is none.
  package var baseURL: WebSocketURL?

  /// Sets the URL from text such as `wss://example.com/chat?room=1`, or from a reference relative to the client's
  /// default request (`/echo`, `chat?room=1`), resolved as RFC 3986 section 5.2 resolves it (Ktor's `url(...)`).
  ///
  /// - Throws: ``WebSocketException`` when the text is not a ws/wss/http/https URL, or is relative on a client
  ///   without a default request.
  public mutating func url(_ text: String) throws {
    if let parsed = WebSocketURL(text) {
      url = parsed
      return
    }
    guard let baseURL, let resolved = baseURL.resolving(text) else {
      throw WebSocketException(
        text.contains("://") || baseURL != nil
          ? "invalid WebSocket URL \"\(text)\""
          : "invalid WebSocket URL \"\(text)\": a relative URL needs a base (the client's defaultRequest)")
    }
    url = resolved
  }

  /// Appends a query parameter (already encoded).
  public mutating func parameter(_ name: String, _ value: String) {
    let pair = "\(name)=\(value)"
    url.query = url.query.map { $0.isEmpty ? pair : "\($0)&\(pair)" } ?? pair
  }

  /// Adds a header.
  public mutating func header(_ name: String, _ value: String) {
    headers.add(name: name, value: value)
  }
}

extension HttpRequestBuilder {
  /// A builder for `text` (the URL-string form of the builders) on top of `base` (the client's default request),
  /// `wss` forced when `secure`, then `request`.
  static func make(
    from base: HttpRequestBuilder, url text: String, secure: Bool = false,
    _ request: (inout HttpRequestBuilder) throws -> Void
  ) throws -> HttpRequestBuilder {
    var builder = base
    try builder.url(text)
    if secure { builder.url.isSecure = true }
    try request(&builder)
    return builder
  }

  /// A builder for method, host, port and path (the components form of the builders) on top of `base`, then
  /// `request`. A component left `nil` keeps the default request's (Ktor's `host: String? = null`); without a
  /// default request that is `localhost`, the scheme's port and `/`.
  static func make(
    from base: HttpRequestBuilder, method: HttpMethod, host: String?, port: Int?, path: String?,
    secure: Bool = false, _ request: (inout HttpRequestBuilder) throws -> Void
  ) throws -> HttpRequestBuilder {
    var builder = base
    builder.method = method
    let isSecure = secure || builder.url.isSecure
    let defaultPort = host == nil && isSecure == builder.url.isSecure ? builder.url.port : nil
    builder.url = WebSocketURL(
      isSecure: isSecure, host: host ?? builder.url.host, port: port ?? defaultPort,
      path: path ?? builder.url.path, query: path == nil ? builder.url.query : nil)
    try request(&builder)
    return builder
  }

  /// A builder configured by `request` alone (the request-builder form), on top of `base`.
  static func make(
    from base: HttpRequestBuilder, secure: Bool = false, _ request: (inout HttpRequestBuilder) throws -> Void
  ) throws -> HttpRequestBuilder {
    var builder = base
    try request(&builder)
    if secure { builder.url.isSecure = true }
    return builder
  }
}
