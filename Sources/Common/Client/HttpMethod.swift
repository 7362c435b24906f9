/// An HTTP request method (Ktor's `HttpMethod`): `.get`, `.post`, … or any token, written as a string literal too
/// (`method: "GET"`). The opening handshake of a WebSocket over HTTP/1.1 uses GET (RFC 6455 section 4.1: "The method
/// of the request MUST be GET"); the builders accept another method so that the request fails with a clear
/// ``WebSocketException`` rather than not compiling, as in Ktor.
public struct HttpMethod: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
  /// The method's token as sent, such as `GET`.
  public let value: String

  /// A method with the token `value` (case-sensitive, as HTTP methods are: RFC 9110 section 9.1).
  public init(_ value: String) { self.value = value }

  /// A method written as a string literal: `method: "GET"`.
  public init(stringLiteral value: String) { self.value = value }

  /// Ktor's `HttpMethod.parse`: the method with token `value`.
  public static func parse(_ value: String) -> HttpMethod { HttpMethod(value) }

  /// `GET`: the only method of an HTTP/1.1 WebSocket handshake.
  public static let get = HttpMethod("GET")
  /// `POST`.
  public static let post = HttpMethod("POST")
  /// `PUT`.
  public static let put = HttpMethod("PUT")
  /// `PATCH`.
  public static let patch = HttpMethod("PATCH")
  /// `DELETE`.
  public static let delete = HttpMethod("DELETE")
  /// `HEAD`.
  public static let head = HttpMethod("HEAD")
  /// `OPTIONS`.
  public static let options = HttpMethod("OPTIONS")
  /// `CONNECT` (the method of an RFC 8441 WebSocket over HTTP/2).
  public static let connect = HttpMethod("CONNECT")

  /// The token.
  public var description: String { value }

  /// Whether the method's token is `string` (`call.request.method == "GET"`).
  public static func == (lhs: HttpMethod, rhs: String) -> Bool { lhs.value == rhs }

  /// Whether the method's token is not `string`.
  public static func != (lhs: HttpMethod, rhs: String) -> Bool { lhs.value != rhs }
}
