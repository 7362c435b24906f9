/// How fan-out encodes a published message for one connection, decided from its negotiation.
enum FanoutEncoding {
  /// The shared unmasked frame as it is: a server connection (unmasked) without payload-transforming extensions,
  /// or a raw session (extensions do not touch its frames).
  case plain
  /// permessage-deflate without context takeover in our direction: the shared compressed frame for `key` when
  /// the connection's predicates compress the message, else the plain frame.
  case sharedDeflate(PerMessageDeflateExtension, SharedCompressionKey)
  /// Anything else (a client, which masks each frame with a fresh key; compression with context takeover; other
  /// extensions): the connection encodes the message itself (the payload is still shared, not copied).
  case individual

  init(configuration: ConnectionStateMachine.Configuration, extensions: [any WebSocketExtension]) {
    if configuration.masksOutgoingFrames {
      self = .individual
    } else if configuration.mode == .raw || extensions.isEmpty {
      self = .plain
    } else if extensions.count == 1, let deflate = extensions[0] as? PerMessageDeflateExtension,
      let key = deflate.sharedCompressionKey
    {
      self = .sharedDeflate(deflate, key)
    } else {
      self = .individual
    }
  }
}
