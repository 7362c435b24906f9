/// What one connection has carried: data messages and their payload bytes in each direction (control frames and
/// framing not counted). Read it with ``WebSocketConnection/traffic``; the library reports it to swift-metrics when
/// the connection ends (``WispMetrics``).
public struct SessionTraffic: Sendable, Hashable {
  /// Whole data messages received (a fragmented message counts once, on its last frame).
  public var messagesReceived = 0
  /// Payload bytes of the data frames received (after decompression).
  public var bytesReceived = 0
  /// Whole data messages sent (a fragmented message counts once, on its last frame).
  public var messagesSent = 0
  /// Payload bytes of the data frames sent (before compression).
  public var bytesSent = 0

  /// Nothing yet.
  public init() {}

  @inline(__always)
  mutating func received(_ frame: Frame) {
    guard !frame.frameType.isControl else { return }
    bytesReceived &+= frame.data.count
    if frame.fin { messagesReceived &+= 1 }
  }

  @inline(__always)
  mutating func sent(_ frame: Frame) {
    guard !frame.frameType.isControl else { return }
    bytesSent &+= frame.data.count
    if frame.fin { messagesSent &+= 1 }
  }
}
