import WispCommon
import WispSimulatorTargetModel

/// The CIO-style client engine on Linux: epoll sockets, OpenSSL and zlib from this module. It declares
/// WebSockets, extensions (permessage-deflate through ``WebSocketDeflateExtension``), raw sessions and TLS.
public struct LinuxEngine: HttpClientEngine {
  /// The engine's name, "CIO" as in Ktor: the engine with raw sessions.
  public let name = "CIO"
  /// What the engine supports.
  /// Read from the target model's `WispLinux` row on linuxX64: one source of truth for the matrix and the engine.
  public let capabilities: Set<EngineCapability> = CompatibilityMatrix.engineCapabilities(.wispLinux, on: .linuxX64)
  /// Sockets on the group's loops, with TLS when asked.
  public let connector: any TransportConnector
  /// OpenSSL's CSPRNG (`RAND_bytes`, seeded from the kernel), a whole buffer per call, for the handshake key and the
  /// masking keys.
  public var secureRandom: any SecureRandomSource { OpenSSLSecureRandom() }
  /// The environment the proxy settings come from (`ProxySetting/environment`).
  public let environment: [String: String]

  /// Creates the engine on `group` (default: the process-wide group, one loop per core).
  ///
  /// - Parameters:
  ///   - group: the event loops that serve the client's connections.
  ///   - environment: where `https_proxy`, `no_proxy` and the others are read; default: the process's environment
  ///     as it is now.
  public init(group: EventLoopGroup = .shared, environment: [String: String]? = nil) {
    connector = LinuxTransportConnector(group: group)
    self.environment = environment ?? ProcessEnvironment.current()
  }
}

/// `HttpClient { }` without an engine, as in Ktor.
extension HttpClient {
  /// A client on the platform's default engine, ``LinuxEngine`` on the shared event loops (Ktor's `HttpClient { }`
  /// without an engine picks the engine it finds): `HttpClient { $0.install(WebSockets.self) }`.
  public convenience init(_ configure: (inout HttpClientConfiguration) -> Void = { _ in }) {
    self.init(LinuxEngine(), configure)
  }
}
