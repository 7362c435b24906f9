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

  /// The message, and the cause when it adds something.
  public var description: String {
    guard let cause else { return message }
    let detail = "\(cause)"
    return detail == message ? message : "\(message): \(detail)"
  }
}
