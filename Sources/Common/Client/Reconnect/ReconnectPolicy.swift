/// When and how fast a ``ReconnectingWebSocket`` connects again.
///
/// Delays grow exponentially with "full jitter" (each wait is uniformly random between zero and the capped
/// exponential delay; the AWS architecture blog's "Exponential Backoff And Jitter"), so that many clients cut off
/// at once do not come back at once.
public struct ReconnectPolicy: Sendable {
  /// The first delay's ceiling, before jitter. Default 500 ms.
  public var initialDelay: Duration = .milliseconds(500)
  /// The ceiling of every delay, before jitter. Default 30 s.
  public var maxDelay: Duration = .seconds(30)
  /// How much the ceiling grows with each failed attempt in a row. Default 2.
  public var multiplier: Double = 2
  /// Attempts in a row that may fail before the client gives up (`nil`, the default: never gives up).
  public var maxAttempts: Int?
  /// Whether a session that ended with this close code is reconnected. Default: every code but 1000 (normal),
  /// 1002 (protocol error), 1003 (unsupported data), 1007 (invalid data), 1008 (policy violation) and 1009 (too
  /// big): those mean that trying again would end the same way.
  public var retriesCloseCode: @Sendable (CloseReason.Code) -> Bool = { code in
    ![1000, 1002, 1003, 1007, 1008, 1009].contains(code.rawValue)
  }
  /// Whether a failed connection attempt is retried. Default: every error except a refused upgrade with a 4xx
  /// status other than 408 and 429 (a 401, 403 or 404 will not change by itself).
  public var retriesError: @Sendable (any Error) -> Bool = { error in
    guard let status = (error as? WebSocketException)?.status else { return true }
    return !(400...499).contains(status) || status == 408 || status == 429
  }
  /// What `send` does while disconnected: keep at most this many messages and send them, in order, after the
  /// ``ReconnectingWebSocket``'s connect hook on the next connection (default 100); 0 throws
  /// ``ReconnectingWebSocketError/notConnected`` instead. Beyond the bound, `send` throws
  /// `ReconnectingWebSocketError/sendBufferFull`.
  public var sendBufferLimit = 100

  /// The default policy.
  public init() {}

  /// The ceiling of the delay after `failures` failed attempts in a row (1 for the first): `initialDelay *
  /// multiplier^(failures - 1)`, at most `maxDelay`.
  public func ceiling(afterFailures failures: Int) -> Duration {
    let exponent = Double(max(0, failures - 1))
    let seconds = initialDelay.seconds * pow(multiplier, exponent)
    return min(maxDelay, .nanoseconds(Int64(min(seconds, maxDelay.seconds) * 1e9)))
  }

  /// A delay drawn with full jitter: uniform between zero and ``ceiling(afterFailures:)``.
  public func delay(afterFailures failures: Int, using generator: inout some RandomNumberGenerator) -> Duration {
    let ceiling = ceiling(afterFailures: failures)
    let nanoseconds = Int64(ceiling.seconds * 1e9)
    return .nanoseconds(nanoseconds > 0 ? Int64.random(in: 0...nanoseconds, using: &generator) : 0)
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// `base` to the power `exponent` (no Foundation in WispCommon), for the integer-valued exponents of backoff.
private func pow(_ base: Double, _ exponent: Double) -> Double {
  var result = 1.0
  var remaining = Int(exponent)
  while remaining > 0 && result < 1e12 {
    result *= base
    remaining -= 1
  }
  return result
}
