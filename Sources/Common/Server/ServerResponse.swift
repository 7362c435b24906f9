/// The answer of a plain HTTP route (`get(path)`): status, headers and body. The server adds `Content-Length` and
/// `Connection: close` (one request per connection: the plain routes exist for health checks and the page that
/// opens the socket, not as a general HTTP server).
public struct ServerResponse: Sendable {
  /// The status code. Default 200.
  public var status: Int
  /// Headers to send, such as `Content-Type`.
  public var headers: HTTPHeaders
  /// The body bytes.
  public var body: [UInt8]

  /// Creates a response.
  public init(status: Int = 200, headers: HTTPHeaders = [:], body: [UInt8] = []) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// A `text/plain; charset=utf-8` response.
  public static func text(_ text: String, status: Int = 200) -> ServerResponse {
    ServerResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
  }

  /// A `text/html; charset=utf-8` response.
  public static func html(_ html: String, status: Int = 200) -> ServerResponse {
    ServerResponse(status: status, headers: ["Content-Type": "text/html; charset=utf-8"], body: Array(html.utf8))
  }

  /// The bytes on the wire; `includeBody` is false for HEAD.
  func serialized(includeBody: Bool = true) -> [UInt8] {
    var fields = headers
    fields.set(name: "Content-Length", value: String(body.count))
    fields.set(name: "Connection", value: "close")
    let head = HTTPResponseHead(status: status, reason: HTTPResponseHead.standardReason(status), headers: fields)
    return head.serialized() + (includeBody ? body : [])
  }
}
