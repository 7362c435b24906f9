/// A WebSocket operation failed: Ktor's `WebSocketException`, with a message and the underlying cause.
public struct WebSocketException: Error, Sendable, CustomStringConvertible {
  /// What failed, in a sentence.
  public let message: String
  /// The error underneath (a ``HandshakeError``, ``TransportError``, ``TLSError``...), if any.
  public let cause: (any Error)?

  /// Creates an exception.
  public init(_ message: String, cause: (any Error)? = nil) {
    self.message = message
    self.cause = cause
  }

  /// The status of an answer other than 101 to the upgrade request (a redirect, 401, 404...), if that is what
  /// failed.
  public var status: Int? {
    if case .unexpectedStatus(let status, _)? = cause as? HandshakeError { return status }
    return nil
  }

  /// Where a redirect (301, 302, 303, 307, 308) answering the upgrade request pointed (its `Location`), when the
  /// client did not follow it (``WebSockets/Config/maxRedirects``).
  public var redirectLocation: String? {
    guard case .unexpectedStatus(let status, let response)? = cause as? HandshakeError,
      RedirectRule.statuses.contains(status)
    else { return nil }
    return response.headers["Location"]
  }

  /// The message, and the cause when it adds something.
  public var description: String {
    guard let cause else { return message }
    let detail = "\(cause)"
    return detail == message ? message : "\(message): \(detail)"
  }
}
