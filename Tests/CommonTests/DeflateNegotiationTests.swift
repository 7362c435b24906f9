import Testing

@testable import WispCommon

/// A codec that is never asked to compress: negotiation needs none.
struct UnusedCodec: DeflateCodec {
  struct Unused: Error {}
  func makeCompressor(windowBits: Int, level: Int) throws -> any DeflateCompressor { throw Unused() }
  func makeDecompressor(windowBits: Int) throws -> any DeflateDecompressor { throw Unused() }
}

func deflateFactory(_ configure: (inout PerMessageDeflateConfig) -> Void = { _ in }) -> PerMessageDeflateFactory {
  var config = PerMessageDeflateConfig(codec: UnusedCodec())
  configure(&config)
  return PerMessageDeflateFactory(config: config)
}

func offers(_ header: String) throws -> [ExtensionOffer] {
  try ExtensionHeader.parse(header)
}

@Suite("RFC 7692 section 7.1: permessage-deflate negotiation")
struct DeflateNegotiationTests {
  @Test("the client's offer carries its settings and always client_max_window_bits")
  func clientOffer() {
    #expect(deflateFactory().clientOffers().map(\.description) == ["permessage-deflate; client_max_window_bits"])
    let configured = deflateFactory {
      $0.clientNoContextTakeover = true
      $0.serverNoContextTakeover = true
      $0.serverMaxWindowBits = 10
      $0.clientMaxWindowBits = 12
    }
    #expect(
      configured.clientOffers().map(\.description) == [
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
          + "client_max_window_bits=12"
      ])
  }

  @Test("the server takes the first offer it can honour and skips invalid ones")
  func serverPicksFirstValid() throws {
    let header =
      "permessage-deflate; server_max_window_bits=16, permessage-deflate; foo, "
      + "permessage-deflate; client_max_window_bits; client_max_window_bits, permessage-deflate; server_max_window_bits=08, "
      + "permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate"
    let (response, _) = try #require(deflateFactory().serverAccept(try offers(header)))
    #expect(response.description == "permessage-deflate; server_max_window_bits=10")
  }

  @Test("the server declines when it can honour no offer (the handshake goes on without compression)")
  func serverDeclines() throws {
    #expect(deflateFactory().serverAccept(try offers("permessage-deflate; mystery=1")) == nil)
    #expect(deflateFactory().serverAccept(try offers("permessage-deflate; server_max_window_bits=7")) == nil)
    #expect(deflateFactory().serverAccept(try offers("permessage-deflate; server_no_context_takeover=1")) == nil)
  }

  @Test("the server's settings appear in its response; client_max_window_bits only when the client offered it")
  func serverSettings() throws {
    let factory = deflateFactory {
      $0.serverNoContextTakeover = true
      $0.clientNoContextTakeover = true
      $0.serverMaxWindowBits = 11
      $0.clientMaxWindowBits = 9
    }
    let (withBits, _) = try #require(factory.serverAccept(try offers("permessage-deflate; client_max_window_bits")))
    #expect(
      withBits.description
        == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; "
        + "client_max_window_bits=9")
    let (withoutBits, _) = try #require(factory.serverAccept(try offers("permessage-deflate")))
    #expect(!withoutBits.description.contains("client_max_window_bits"))
  }

  @Test(
    "the client rejects a response that does not match its offer",
    arguments: [
      "permessage-deflate; unknown",
      "permessage-deflate; client_max_window_bits",
      "permessage-deflate; client_max_window_bits=13",
      "permessage-deflate; server_max_window_bits=12",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    ])
  func clientRejects(response: String) throws {
    let factory = deflateFactory {
      $0.clientMaxWindowBits = 12
      $0.serverMaxWindowBits = 11
    }
    let parsed = try #require(try offers(response).first)
    #expect(throws: HandshakeError.self) { _ = try factory.clientAccept(parsed) }
  }

  @Test("the client accepts a matching response, including parameters it did not ask for")
  func clientAccepts() throws {
    let factory = deflateFactory { $0.serverMaxWindowBits = 11 }
    for response in [
      "permessage-deflate; server_max_window_bits=11", "permessage-deflate; server_max_window_bits=9",
      "permessage-deflate; server_max_window_bits=11; server_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_max_window_bits=11; client_max_window_bits=8",
    ] {
      let parsed = try #require(try offers(response).first)
      #expect(try factory.clientAccept(parsed).name == "permessage-deflate", "\(response)")
    }
  }

  @Test("two extensions claiming RSV1 are refused at configuration time")
  func conflicts() {
    struct Other: WebSocketExtensionFactory {
      let name = "x-other"
      let reservedBits: UInt8 = 0x40
      func clientOffers() -> [ExtensionOffer] { [] }
      func clientAccept(_ response: ExtensionOffer) throws(HandshakeError) -> any WebSocketExtension {
        throw .unofferedExtension(name)
      }
      func serverAccept(_ offers: [ExtensionOffer]) -> (response: ExtensionOffer, extension: any WebSocketExtension)? {
        nil
      }
    }
    var config = WebSocketExtensionsConfig()
    config.install(factory: deflateFactory())
    #expect(throws: Never.self) { try config.validate() }
    config.install(factory: Other())
    #expect(throws: WebSocketExtensionConfigurationError(first: "permessage-deflate", second: "x-other", bit: 0x40)) {
      try config.validate()
    }
  }
}
