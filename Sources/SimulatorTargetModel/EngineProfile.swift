import WispCommon

/// A client engine that runs over a real engine (the Linux sockets) but behaves as `engine` on `target` would:
/// its declared capabilities come from the matrix, and requests that target cannot make fail with the rule's
/// message before any traffic. This is how the compatibility rules become testable on Linux.
///
/// ```swift
/// let client = HttpClient(EngineProfile(target: .iosX64, engine: .darwin, over: LinuxEngine())) {
///   $0.install(WebSockets.self)
/// }
/// try await client.webSocketRaw(...)  // throws: raw sessions are CIO/JVM-only
/// ```
public struct EngineProfile: HttpClientEngine {
  /// The modelled target.
  public let target: Target
  /// The modelled engine.
  public let engine: Engine
  /// The engine that really carries the bytes.
  public let base: any HttpClientEngine

  /// Creates a profile of `engine` on `target` over `base`.
  public init(target: Target, engine: Engine, over base: any HttpClientEngine) {
    self.target = target
    self.engine = engine
    self.base = base
  }

  /// `"Darwin on iosX64"`.
  /// The base engine's CSPRNG.
  public var secureRandom: any SecureRandomSource { base.secureRandom }

  public var name: String { "\(engine) on \(target)" }

  /// The matrix's runtime capabilities for the profile, limited to what the base engine has.
  public var capabilities: Set<EngineCapability> {
    CompatibilityMatrix.engineCapabilities(engine, on: target).intersection(base.capabilities)
  }

  /// The base engine's connector.
  public var connector: any TransportConnector { base.connector }

  /// The base engine's environment (its proxy settings).
  public var environment: [String: String] { base.environment }

  /// The settings' defaults of the modelled engine; `maxFrameSize` left at the plugin's default becomes 1 MiB on
  /// Darwin (NSURLSession's `maximumMessageSize`).
  public static let darwinMaximumMessageSize = 1 << 20

  /// Refuses what the target cannot do (the rule's message) and applies the modelled engine's defaults.
  /// Extensions are not refused: as in Ktor, an engine without them simply negotiates none.
  public func prepare(_ config: inout WebSockets.Config, for request: HttpRequestBuilder, raw: Bool) throws {
    let defaults = WebSockets.Config()
    if engine == .darwin && config.maxFrameSize == defaults.maxFrameSize {
      config.maxFrameSize = Self.darwinMaximumMessageSize
    }
    if engine == .curl && config.incomingCapacity == defaults.incomingCapacity
      && config.incomingOverflow == defaults.incomingOverflow
    {
      // Ktor's default channel is unbounded, which Curl accepts; only an explicitly bounded one is refused.
      config.incomingCapacity = Int.max
    }
    var used: Set<Capability> = []
    if raw { used.insert(.rawSessions) }
    if request.url.isSecure { used.insert(.tls) }
    if config.pingInterval != nil { used.insert(.pingInterval) }
    if config.maxFrameSize != defaults.maxFrameSize && engine != .darwin { used.insert(.maxFrameSize) }
    if !request.headers.fields.isEmpty { used.insert(.customHeaders) }
    if config.incomingCapacity != Int.max && config.incomingOverflow == .suspend {
      used.insert(.boundedSuspendingIncoming)
    }
    if let violation = Rules.violations(target: target, engine: engine, usage: Usage(used)).first {
      throw WebSocketException(violation.message, cause: violation)
    }
  }
}
