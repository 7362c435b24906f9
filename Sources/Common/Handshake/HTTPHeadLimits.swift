/// Bounds on what a peer may send before the head is complete.
public struct HTTPHeadLimits: Sendable, Hashable {
  /// The largest head, in bytes, including the request/status line and the final empty line. Default 16 KiB:
  /// above any real browser's handshake (a few hundred bytes plus cookies), small enough to bound memory per
  /// pending connection.
  public var maxHeadSize: Int
  /// The most header fields accepted. Default 100, the usual limit of HTTP servers.
  public var maxHeaderCount: Int

  /// Creates limits.
  public init(maxHeadSize: Int = 16 * 1024, maxHeaderCount: Int = 100) {
    self.maxHeadSize = maxHeadSize
    self.maxHeaderCount = maxHeaderCount
  }
}
