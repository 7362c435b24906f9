/// The opening handshake failed (RFC 6455 section 4). Each case says what was wrong in a sentence a developer
/// understands, and carries the data needed to act on it.
public enum HandshakeError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The head outgrew `HTTPHeadParser.Limits.maxHeadSize`.
  case headTooLarge(limit: Int)
  /// More fields than `HTTPHeadParser.Limits.maxHeaderCount`.
  case tooManyHeaders(limit: Int)
  /// The request or status line is not HTTP/1.x syntax.
  case malformedStartLine(String)
  /// A header line is not `name: value` syntax.
  case malformedHeader(String)
  /// The server answered with a status other than 101 (Ktor's message wording).
  case unexpectedStatus(Int, HTTPResponseHead)
  /// A required header is missing or has the wrong value; carries the header's name and what was found.
  case invalidHeader(name: String, found: String?)
  /// `Sec-WebSocket-Accept` does not match the key that was sent (RFC 6455 section 4.1, point 4).
  case invalidAccept(expected: String, found: String?)
  /// The server chose a subprotocol the client did not offer (RFC 6455 section 4.1, point 6).
  case unofferedSubprotocol(String)
  /// The server chose an extension the client did not offer (RFC 6455 section 4.1, point 5), or an extension
  /// rejected the server's parameters.
  case unofferedExtension(String)
  /// A `Sec-WebSocket-Extensions` header does not follow the grammar of RFC 6455 section 9.1.
  case malformedExtensionHeader(String)

  /// A sentence that says what went wrong.
  public var description: String {
    switch self {
    case .headTooLarge(let limit): "the HTTP head exceeds \(limit) bytes"
    case .tooManyHeaders(let limit): "the HTTP head has more than \(limit) header fields"
    case .malformedStartLine(let line): "malformed HTTP start line: \"\(line)\""
    case .malformedHeader(let line): "malformed HTTP header line: \"\(line)\""
    case .unexpectedStatus(let status, _): "Handshake exception, expected status code 101 but was \(status)"
    case .invalidHeader(let name, let found):
      found.map { "invalid \(name) header: \"\($0)\"" } ?? "missing \(name) header"
    case .invalidAccept(let expected, let found):
      "Sec-WebSocket-Accept is \(found.map { "\"\($0)\"" } ?? "missing"), expected \"\(expected)\""
    case .unofferedSubprotocol(let name): "the server chose subprotocol \"\(name)\", which the client did not offer"
    case .unofferedExtension(let name): "the server chose extension \"\(name)\", which the client did not offer"
    case .malformedExtensionHeader(let value): "malformed Sec-WebSocket-Extensions header: \"\(value)\""
    }
  }
}
