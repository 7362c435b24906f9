/// A transport-level failure, typed so that callers can tell the cases apart and each says what happened.
public enum TransportError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Name resolution failed for the host (no such host, or the resolver failed).
  case nameResolutionFailed(host: String, reason: String)
  /// The peer refused the connection (nothing listens there).
  case connectionRefused(Endpoint)
  /// No route to the host or its network.
  case unreachable(Endpoint)
  /// The operation did not complete within its time limit.
  case timedOut(operation: String, limit: Duration)
  /// The peer reset the connection.
  case connectionReset
  /// Writing to a connection the peer has closed.
  case brokenPipe
  /// The transport was closed locally while the operation waited, or used after close.
  case closed
  /// An address could not be bound (in use, or not permitted).
  case bindFailed(Endpoint, reason: String)
  /// Any other system error: the operation, the errno value and its text.
  case system(operation: String, errno: Int32, message: String)

  /// A sentence that says what failed.
  public var description: String {
    switch self {
    case .nameResolutionFailed(let host, let reason): "cannot resolve host \"\(host)\": \(reason)"
    case .connectionRefused(let endpoint): "connection refused by \(endpoint)"
    case .unreachable(let endpoint): "\(endpoint) is unreachable"
    case .timedOut(let operation, let limit): "\(operation) timed out after \(limit)"
    case .connectionReset: "connection reset by peer"
    case .brokenPipe: "the peer closed the connection while we were writing"
    case .closed: "the connection is closed"
    case .bindFailed(let endpoint, let reason): "cannot listen on \(endpoint): \(reason)"
    case .system(let operation, let errno, let message): "\(operation) failed: \(message) (errno \(errno))"
    }
  }
}
