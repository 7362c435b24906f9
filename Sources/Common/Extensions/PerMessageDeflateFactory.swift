/// Negotiates permessage-deflate (RFC 7692 section 7.1) for either role.
public struct PerMessageDeflateFactory: WebSocketExtensionFactory {
  /// The settings.
  public let config: PerMessageDeflateConfig
  /// `permessage-deflate`.
  public let name = PerMessageDeflateParameters.name
  /// RSV1, the "Per-Message Compressed" bit.
  public let reservedBits: UInt8 = 0x40

  /// Creates the factory.
  public init(config: PerMessageDeflateConfig) {
    self.config = config
  }

  /// The client's offer: the configured parameters, and always `client_max_window_bits` (bare when no value is
  /// configured) to say that this client can honour a window the server asks for.
  public func clientOffers() -> [ExtensionOffer] {
    [clientParameters.offer]
  }

  private var clientParameters: PerMessageDeflateParameters {
    var parameters = PerMessageDeflateParameters()
    parameters.serverNoContextTakeover = config.serverNoContextTakeover
    parameters.clientNoContextTakeover = config.clientNoContextTakeover
    parameters.serverMaxWindowBits = config.serverMaxWindowBits
    parameters.clientMaxWindowBits = .some(config.clientMaxWindowBits)
    return parameters
  }

  /// Checks the server's response against the offer (RFC 7692 sections 7.1.1 and 7.1.2) and builds the client's
  /// side.
  public func clientAccept(_ response: ExtensionOffer) throws(HandshakeError) -> any WebSocketExtension {
    let offered = clientParameters
    let answer = try PerMessageDeflateParameters(response)
    if offered.serverNoContextTakeover && !answer.serverNoContextTakeover {
      throw .malformedExtensionHeader(
        "the server accepted permessage-deflate without the server_no_context_takeover the client asked for")
    }
    if let limit = offered.serverMaxWindowBits {
      guard let granted = answer.serverMaxWindowBits, granted <= limit else {
        throw .malformedExtensionHeader(
          "the server's server_max_window_bits does not honour the client's limit of \(limit)")
      }
    }
    var clientWindow = 15
    if let requested = answer.clientMaxWindowBits {
      // We always offer client_max_window_bits, so the server may set it; a value is required in a response.
      guard let bits = requested else {
        throw .malformedExtensionHeader("the server sent client_max_window_bits without a value")
      }
      if let limit = config.clientMaxWindowBits, bits > limit {
        throw .malformedExtensionHeader("the server's client_max_window_bits \(bits) exceeds the offered \(limit)")
      }
      clientWindow = bits
    } else if let limit = config.clientMaxWindowBits {
      clientWindow = limit
    }
    return PerMessageDeflateExtension(
      config: config, compressWindowBits: clientWindow,
      resetsCompressor: answer.clientNoContextTakeover || config.clientNoContextTakeover,
      resetsDecompressor: answer.serverNoContextTakeover)
  }

  /// Picks the first offer this server can honour (RFC 7692 section 5: "the server ... MUST decline an offer" it
  /// cannot accept, and may accept a later one); `nil` declines them all, and the handshake goes on without
  /// compression.
  public func serverAccept(
    _ offers: [ExtensionOffer]
  ) -> (response: ExtensionOffer, extension: any WebSocketExtension)? {
    for offer in offers {
      guard let requested = try? PerMessageDeflateParameters(offer) else { continue }
      var response = PerMessageDeflateParameters()
      response.serverNoContextTakeover = requested.serverNoContextTakeover || config.serverNoContextTakeover
      response.clientNoContextTakeover = requested.clientNoContextTakeover || config.clientNoContextTakeover
      let serverWindow = min(requested.serverMaxWindowBits ?? 15, config.serverMaxWindowBits ?? 15)
      if requested.serverMaxWindowBits != nil || serverWindow < 15 { response.serverMaxWindowBits = serverWindow }
      // "A server MUST NOT include client_max_window_bits in the response unless the offer had it" (7.1.2.2).
      if let offeredClientBits = requested.clientMaxWindowBits, let wanted = config.clientMaxWindowBits {
        response.clientMaxWindowBits = .some(min(wanted, offeredClientBits ?? 15))
      }
      let instance = PerMessageDeflateExtension(
        config: config, compressWindowBits: serverWindow, resetsCompressor: response.serverNoContextTakeover,
        resetsDecompressor: response.clientNoContextTakeover)
      return (response.offer, instance)
    }
    return nil
  }
}
