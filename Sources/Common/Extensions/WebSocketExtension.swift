/// One negotiated extension on one connection (Ktor's `WebSocketExtension`): it transforms data frames on their
/// way out and in. Instances belong to one connection and are used only on its executor.
///
/// Outgoing frames pass through the extensions in installation order; incoming frames in the reverse order, so
/// that the extension applied last on the sender's side is undone first (RFC 6455 section 9: extensions are
/// "applied ... in the order listed in the header").
public protocol WebSocketExtension: AnyObject, Sendable {
  /// The registered token, such as `permessage-deflate`.
  var name: String { get }
  /// The RSV bits this extension gives a meaning (`0x40` is RSV1); a frame with others set still fails with 1002.
  var reservedBits: UInt8 { get }

  /// Transforms an outgoing data frame. `startsMessage` is true for the first frame of a message (a text or binary
  /// opcode), false for continuation frames.
  func processOutgoing(_ frame: Frame, startsMessage: Bool) throws -> Frame

  /// Transforms an incoming data frame in the default mode. `limit` is the number of payload bytes the message may
  /// still grow by (the session's message size limit minus what is assembled): an extension that expands data
  /// (decompression) must stop and throw ``ProtocolViolation/messageTooBig(size:limit:)`` past it, without
  /// allocating the excess.
  func processIncoming(_ frame: Frame, startsMessage: Bool, limit: Int) throws(ProtocolViolation) -> Frame
}

/// Builds and negotiates one kind of extension for a client or a server (Ktor's `WebSocketExtensionFactory`).
public protocol WebSocketExtensionFactory: Sendable {
  /// The registered token, such as `permessage-deflate`.
  var name: String { get }
  /// The RSV bits the extension claims; two installed extensions may not claim the same bit.
  var reservedBits: UInt8 { get }

  /// The client's offers, in preference order (several offers of one extension are allowed, RFC 7692 section 5).
  func clientOffers() -> [ExtensionOffer]

  /// The client's check of the server's response for this extension: the instance to use, or the error that fails
  /// the connection (a response that does not match the offer).
  func clientAccept(_ response: ExtensionOffer) throws(HandshakeError) -> any WebSocketExtension

  /// The server's choice among the client's offers of this extension (in the client's order): the response
  /// parameters and the instance, or `nil` to decline (the handshake then goes on without the extension).
  func serverAccept(_ offers: [ExtensionOffer]) -> (response: ExtensionOffer, extension: any WebSocketExtension)?
}

/// An extension type that can be installed with ``WebSocketExtensionsConfig/install(_:_:)`` (Ktor's
/// `WebSocketExtensionFactory` companion with its `Config`).
public protocol InstallableWebSocketExtension {
  /// The extension's settings.
  associatedtype Config: Sendable
  /// The default settings.
  static func defaultConfig() -> Config
  /// The factory for `config`.
  static func factory(_ config: Config) -> any WebSocketExtensionFactory
  /// The registered token (`permessage-deflate`), for ``WebSocketSession/extensionOrNull(_:)``. Default: the
  /// token of the factory with the default settings.
  static var extensionName: String { get }
}

extension InstallableWebSocketExtension {
  /// The token of the factory with the default settings.
  public static var extensionName: String { factory(defaultConfig()).name }
}
