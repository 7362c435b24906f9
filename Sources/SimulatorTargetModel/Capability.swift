/// Something client code may use that an engine on a target may or may not provide.
public enum Capability: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  /// WebSocket sessions at all (Ktor's `WebSocketCapability`).
  case webSocket
  /// Extensions such as permessage-deflate (Ktor's `WebSocketExtensionsCapability`).
  case extensions
  /// Raw sessions: `webSocketRaw`, `wsRaw`, `wssRaw`, `webSocketRawSession`.
  case rawSessions
  /// `wss://` (TLS).
  case tls
  /// The plugin's `pingInterval` is honoured (pings sent, pong timeout enforced).
  case pingInterval
  /// The plugin's `maxFrameSize` is honoured.
  case maxFrameSize
  /// Custom request headers reach the server.
  case customHeaders
  /// A bounded incoming channel that suspends the reader when full.
  case boundedSuspendingIncoming
  /// Fragments, pongs and close frames delivered as frames (not only whole messages).
  case fragmentDelivery

  /// A short readable name for tables.
  public var description: String {
    switch self {
    case .webSocket: "WebSocket"
    case .extensions: "extensions"
    case .rawSessions: "raw sessions"
    case .tls: "TLS (wss)"
    case .pingInterval: "ping interval"
    case .maxFrameSize: "maxFrameSize"
    case .customHeaders: "custom headers"
    case .boundedSuspendingIncoming: "bounded suspending incoming"
    case .fragmentDelivery: "fragment delivery"
    }
  }
}

/// One cell of the compatibility matrix: whether an engine on a target provides a capability, and why.
public struct Cell: Sendable, Hashable {
  /// Whether the capability is available.
  public let isSupported: Bool
  /// Why, in a sentence a developer understands.
  public let reason: String

  /// A supported cell.
  public static func yes(_ reason: String) -> Cell { Cell(isSupported: true, reason: reason) }
  /// An unsupported cell.
  public static func no(_ reason: String) -> Cell { Cell(isSupported: false, reason: reason) }
}
