/// A capability an engine may have, asked with ``HttpClient/isSupported(_:)`` (Ktor's `HttpClientEngineCapability`).
public struct EngineCapability: Sendable, Hashable, CustomStringConvertible {
  /// The capability's name.
  public let name: String

  /// Creates a capability.
  public init(_ name: String) { self.name = name }

  /// WebSocket sessions (Ktor's `WebSocketCapability`).
  public static let webSocket = EngineCapability("WebSocketCapability")
  /// WebSocket extensions such as permessage-deflate (Ktor's `WebSocketExtensionsCapability`).
  public static let webSocketExtensions = EngineCapability("WebSocketExtensionsCapability")
  /// Raw WebSocket sessions (`webSocketRaw`, `wsRaw`, `wssRaw`, `webSocketRawSession`): CIO-style engines only.
  public static let rawWebSocket = EngineCapability("RawWebSocketCapability")
  /// `wss://` (TLS).
  public static let tls = EngineCapability("TLSCapability")

  /// The name.
  public var description: String { name }
}

/// Ktor's `WebSocketCapability`, as the seed spells it: `client.isSupported(WebSocketCapability)`.
// swift-format-ignore: AlwaysUseLowerCamelCase
public let WebSocketCapability = EngineCapability.webSocket

/// Ktor's `WebSocketExtensionsCapability`: `client.isSupported(WebSocketExtensionsCapability)`.
// swift-format-ignore: AlwaysUseLowerCamelCase
public let WebSocketExtensionsCapability = EngineCapability.webSocketExtensions

/// What an ``HttpClient`` runs on: a way to open transports and the capabilities it declares (Ktor's
/// `HttpClientEngine`). The Linux platform supplies the CIO-style engine.
public protocol HttpClientEngine: Sendable {
  /// A readable name, for errors and logs.
  var name: String { get }
  /// What the engine supports.
  var capabilities: Set<EngineCapability> { get }
  /// Opens the connections.
  var connector: any TransportConnector { get }
  /// The CSPRNG for the handshake's key and the client's masking keys (RFC 6455 section 5.3: "a strong source of
  /// entropy"). Default ``SystemSecureRandom``; a platform supplies one that fills a whole buffer per system call.
  var secureRandom: any SecureRandomSource { get }

  /// The process environment, where ``ProxySetting/environment`` finds `https_proxy`, `no_proxy` and the others.
  /// Default empty: no proxy from the environment.
  var environment: [String: String] { get }

  /// Checks a session request before any traffic and adjusts the plugin's settings to what the engine does (an
  /// engine profile of another target refuses what that target cannot do, with the rule's message, and applies
  /// its defaults). Default: accepts everything unchanged.
  ///
  /// - Throws: ``WebSocketException`` naming the rule that refuses the request.
  func prepare(_ config: inout WebSockets.Config, for request: HttpRequestBuilder, raw: Bool) throws
}

extension HttpClientEngine {
  /// The standard library's generator.
  public var secureRandom: any SecureRandomSource { SystemSecureRandom() }

  /// No environment.
  public var environment: [String: String] { [:] }

  /// Accepts every request unchanged.
  public func prepare(_ config: inout WebSockets.Config, for request: HttpRequestBuilder, raw: Bool) throws {}
}
