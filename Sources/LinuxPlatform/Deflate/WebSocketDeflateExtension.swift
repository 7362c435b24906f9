import WispCommon

/// permessage-deflate (RFC 7692) on the system zlib, for clients and servers (Ktor's `WebSocketDeflateExtension`):
///
/// ```swift
/// config.extensions {
///   $0.install(WebSocketDeflateExtension.self) {
///     $0.compressionLevel = 6
///     $0.compressIfBiggerThan(64)
///   }
/// }
/// ```
public enum WebSocketDeflateExtension: InstallableWebSocketExtension {
  /// The settings (see `PerMessageDeflateConfig`): context takeover, window bits, level, predicates.
  public typealias Config = PerMessageDeflateConfig

  /// Default settings on zlib.
  public static func defaultConfig() -> PerMessageDeflateConfig {
    PerMessageDeflateConfig(codec: ZlibDeflateCodec())
  }

  /// The negotiating factory.
  public static func factory(_ config: PerMessageDeflateConfig) -> any WebSocketExtensionFactory {
    PerMessageDeflateFactory(config: config)
  }
}
