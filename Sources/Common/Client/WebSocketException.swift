/// A WebSocket operation failed: Ktor's `WebSocketException`, with a message and the underlying cause. Every
/// failure to open a session is one (`catch let error as WebSocketException`), except a connect that timed out
/// (``ConnectTimeoutException``, as in Ktor); a connection that could not be made at all is the subclass
/// ``WebSocketConnectionException``.
///
/// A class (immutable, so safely shared) so that the subclass is caught by either name, as in Ktor.
open class WebSocketException: Error, @unchecked Sendable, CustomStringConvertible {
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
  open var description: String {
    guard let cause else { return message }
    let detail = "\(cause)"
    return detail == message ? message : "\(message): \(detail)"
  }
}

/// The connection for a session could not be made (Ktor's `WebSocketConnectionException`): the name did not
/// resolve, the peer refused or was unreachable, the proxy refused the tunnel, or TLS failed (an untrusted
/// certificate, a hostname that does not match). ``WebSocketException/cause`` holds the ``TransportError`` or
/// ``TLSError``. A ``WebSocketException``, so `catch let error as WebSocketException` catches it too.
public final class WebSocketConnectionException: WebSocketException, @unchecked Sendable {}

/// The plugin's `http2` is ``HTTP2Preference/required`` and the session cannot run over HTTP/2 (RFC 8441): the server
/// did not select `h2` by ALPN, or does not enable extended CONNECT in its SETTINGS, or the request cannot use it
/// (`ws://`, a proxy, an engine without HTTP/2). The message says which. A ``WebSocketException``.
public final class HTTP2UnavailableException: WebSocketException, @unchecked Sendable {}

/// Connecting (TCP, a proxy's tunnel, TLS) took longer than the plugin's `handshakeTimeout` (Ktor's
/// `ConnectTimeoutException`). As in Ktor it is not a ``WebSocketException``: `catch is ConnectTimeoutException`
/// tells a timeout from a refusal.
public final class ConnectTimeoutException: Error, @unchecked Sendable, CustomStringConvertible {
  /// What timed out, in a sentence.
  public let message: String
  /// The error underneath (a ``TransportError/timedOut(operation:limit:)``).
  public let cause: (any Error)?

  /// Creates the exception.
  public init(_ message: String, cause: (any Error)? = nil) {
    self.message = message
    self.cause = cause
  }

  /// The message and the cause.
  public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
