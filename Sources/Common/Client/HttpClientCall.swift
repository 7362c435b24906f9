/// The opening handshake of a client session: the request, the server's response, the client that made it, and
/// attributes such as the negotiated extensions (Ktor's `HttpClientCall`).
public struct HttpClientCall: Sendable {
  /// The request as sent (Ktor's `call.request`): URL, method, headers.
  public let request: HttpRequest
  /// The URL the request went to (the same as `request.url`).
  public var url: WebSocketURL { request.url }
  /// The server's 101 response (Ktor's `call.response`): `status`, `headers`.
  public let response: HTTPResponseHead
  /// The client that opened the session (Ktor's `call.client`; `call.client.engine` is its engine).
  public let client: HttpClient
  /// Values attached to the call (Ktor's `call.attributes`): ``extensionsKey`` holds the negotiated extensions.
  public let attributes: Attributes

  /// A call for `request`, answered by `response`, made by `client`, with `attributes` (a custom
  /// ``ClientWebSocketSession`` built around another session takes that session's call).
  public init(
    request: HttpRequest, response: HTTPResponseHead, client: HttpClient, attributes: Attributes = Attributes()
  ) {
    self.request = request
    self.response = response
    self.client = client
    self.attributes = attributes
  }
}

/// A request as it was sent (Ktor's `HttpRequest`): its URL, method and headers, and the head on the wire.
public struct HttpRequest: Sendable, Hashable {
  /// The URL (Ktor's `call.request.url`); `url.host`, `url.port`, `url.path`.
  public let url: WebSocketURL
  /// The request line and header fields as sent.
  public let head: HTTPRequestHead
  /// The method (Ktor's `call.request.method`).
  public var method: HttpMethod { HttpMethod(head.method) }
  /// The header fields as sent, the handshake's own included (Ktor's `call.request.headers`).
  public var headers: HTTPHeaders { head.headers }
  /// The request target: path and query.
  public var target: String { head.target }
  /// The path of the target.
  public var path: String { head.path }
  /// The query of the target without `?`, if any.
  public var query: String? { head.query }
  /// The HTTP version.
  public var version: HTTPVersion { head.version }

  /// The request to `url` with the head `head`.
  public init(url: WebSocketURL, head: HTTPRequestHead) {
    self.url = url
    self.head = head
  }
}
