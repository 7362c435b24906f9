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
  /// The HTTP method; the opening handshake requires GET (RFC 6455 section 4.1).
  public var method = "GET"
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

  /// Sets the URL from text such as `wss://example.com/chat?room=1`.
  ///
  /// - Throws: ``WebSocketException`` when the text is not a ws/wss/http/https URL.
  public mutating func url(_ text: String) throws {
    guard let parsed = WebSocketURL(text) else { throw WebSocketException("invalid WebSocket URL \"\(text)\"") }
    url = parsed
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

/// The opening handshake of a session: what was sent and what came back (Ktor's `HttpClientCall`).
public struct HttpClientCall: Sendable {
  /// The request as sent, with its URL.
  public let request: HTTPRequestHead
  /// The URL the request went to.
  public let url: WebSocketURL
  /// The server's 101 response.
  public let response: HTTPResponseHead
}

extension HttpRequestBuilder {
  /// A builder for `text` (the URL-string form of the builders), `wss` forced when `secure`, then `request`.
  static func make(
    url text: String, secure: Bool = false, _ request: (inout HttpRequestBuilder) throws -> Void
  ) throws -> HttpRequestBuilder {
    var builder = HttpRequestBuilder()
    try builder.url(text)
    if secure { builder.url.isSecure = true }
    try request(&builder)
    return builder
  }

  /// A builder for method, host, port and path (the components form of the builders), then `request`.
  static func make(
    method: String, host: String, port: Int, path: String, secure: Bool = false,
    _ request: (inout HttpRequestBuilder) throws -> Void
  ) throws -> HttpRequestBuilder {
    var builder = HttpRequestBuilder()
    builder.method = method
    builder.url = WebSocketURL(isSecure: secure, host: host, port: port, path: path)
    try request(&builder)
    return builder
  }

  /// A builder configured by `request` alone (the request-builder form).
  static func make(_ request: (inout HttpRequestBuilder) throws -> Void) throws -> HttpRequestBuilder {
    var builder = HttpRequestBuilder()
    try request(&builder)
    return builder
  }
}
