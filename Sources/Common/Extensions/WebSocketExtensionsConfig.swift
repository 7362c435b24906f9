/// The extensions installed in a client or server plugin (Ktor's `extensions { install(...) }`), in order.
public struct WebSocketExtensionsConfig: Sendable {
  /// The installed factories, in installation order.
  public private(set) var factories: [any WebSocketExtensionFactory] = []

  /// Creates an empty list.
  public init() {}

  /// Installs an extension with its settings (`install(WebSocketDeflateExtension.self) { $0.compressionLevel = 9 }`).
  /// Installing the same extension again replaces the earlier settings.
  public mutating func install<Extension: InstallableWebSocketExtension>(
    _ type: Extension.Type, _ configure: (inout Extension.Config) -> Void = { _ in }
  ) {
    var config = Extension.defaultConfig()
    configure(&config)
    install(factory: Extension.factory(config))
  }

  /// Installs a factory directly.
  public mutating func install(factory: any WebSocketExtensionFactory) {
    factories.removeAll { $0.name == factory.name }
    factories.append(factory)
  }

  /// Checks the installed extensions: two may not claim the same RSV bit (their frames would be ambiguous).
  ///
  /// - Throws: ``WebSocketExtensionConfigurationError`` naming both extensions and the bit.
  public func validate() throws(WebSocketExtensionConfigurationError) {
    var claimed: [UInt8: String] = [:]
    for factory in factories {
      for bit in [UInt8(0x40), 0x20, 0x10] where factory.reservedBits & bit != 0 {
        if let other = claimed[bit] {
          throw WebSocketExtensionConfigurationError(first: other, second: factory.name, bit: bit)
        }
        claimed[bit] = factory.name
      }
    }
  }

  /// The union of the RSV bits of `extensions`.
  static func reservedBits(of extensions: [any WebSocketExtension]) -> UInt8 {
    extensions.reduce(0) { $0 | $1.reservedBits }
  }
}

/// Two installed extensions claim the same RSV bit.
public struct WebSocketExtensionConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The extension installed first.
  public let first: String
  /// The extension installed later.
  public let second: String
  /// The contested bit: `0x40` (RSV1), `0x20` (RSV2) or `0x10` (RSV3).
  public let bit: UInt8

  /// A sentence that names both.
  public var description: String {
    let name = bit == 0x40 ? "RSV1" : bit == 0x20 ? "RSV2" : "RSV3"
    return "the extensions \(first) and \(second) both use \(name); install only one of them"
  }
}
