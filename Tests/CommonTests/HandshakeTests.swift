import Testing
import WispCommon

/// RFC 6455 section 4: the opening handshake, both roles, and the HTTP head parser under it.
@Suite("RFC 6455 section 4: opening handshake")
struct HandshakeTests {
  static func parseRequest(_ text: String, limits: HTTPHeadParser.Limits = .init()) throws(HandshakeError)
    -> HTTPRequestHead?
  {
    var parser = HTTPHeadParser(limits: limits)
    let bytes = Array(text.utf8)
    let result = bytes.withUnsafeBytes { raw in
      var offset = 0
      return Result { () throws(HandshakeError) in try parser.parseRequest(raw, offset: &offset) }
    }
    return try result.get()
  }

  static func parseResponse(_ text: String) throws(HandshakeError) -> HTTPResponseHead? {
    var parser = HTTPHeadParser()
    let bytes = Array(text.utf8)
    let result = bytes.withUnsafeBytes { raw in
      var offset = 0
      return Result { () throws(HandshakeError) in try parser.parseResponse(raw, offset: &offset) }
    }
    return try result.get()
  }

  /// RFC 6455 section 1.2's sample request.
  static let sampleRequest = """
    GET /chat HTTP/1.1\r
    Host: server.example.com\r
    Upgrade: websocket\r
    Connection: Upgrade\r
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
    Origin: http://example.com\r
    Sec-WebSocket-Protocol: chat, superchat\r
    Sec-WebSocket-Version: 13\r
    \r

    """

  @Test("section 1.3: the accept value of 'dGhlIHNhbXBsZSBub25jZQ==' is 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='")
  func acceptKeyExample() {
    #expect(WebSocketAccept.value(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
  }

  @Test("SHA-1 and base64 match their standard test vectors")
  func primitives() {
    // FIPS 180 "abc" and the two-block message.
    #expect(Base64.encode(SHA1.hash(Array("abc".utf8))) == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
    #expect(
      SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).map { String($0, radix: 16) }
        .joined() == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    // RFC 4648 section 10.
    let vectors = [
      "": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy",
    ]
    for (plain, encoded) in vectors {
      #expect(Base64.encode(Array(plain.utf8)) == encoded)
      #expect(Base64.decode(encoded) == Array(plain.utf8))
    }
    for bad in ["Zg=", "Z===", "Zg==Zg==", "Zh==", "Zm9*", "=Zm9"] { #expect(Base64.decode(bad) == nil, "\(bad)") }
  }

  @Test("the section 1.2 sample request validates and is answered with its accept value")
  func serverAcceptsSample() throws {
    let request = try #require(try Self.parseRequest(Self.sampleRequest))
    let upgrade = try ServerHandshake.validate(request)
    #expect(upgrade.subprotocols == ["chat", "superchat"])
    #expect(request.path == "/chat" && request.query == nil)
    let response = ServerHandshake.response(accepting: upgrade, subprotocol: "chat")
    #expect(response.status == 101)
    #expect(response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    #expect(response.headers["sec-websocket-protocol"] == "chat")
  }

  static let malformed: [(String, from: String, to: String, status: Int)] = [
    ("POST", from: "GET /chat", to: "POST /chat", status: 405),
    ("HTTP/1.0", from: "HTTP/1.1\r\nHost", to: "HTTP/1.0\r\nHost", status: 505),
    ("HTTP/2.0", from: "HTTP/1.1\r\nHost", to: "HTTP/2.0\r\nHost", status: 505),
    ("HTTP/0.9", from: "HTTP/1.1\r\nHost", to: "HTTP/0.9\r\nHost", status: 505),
    ("HTTP/1.2", from: "HTTP/1.1\r\nHost", to: "HTTP/1.2\r\nHost", status: 505),
    ("no Host", from: "Host: server.example.com\r\n", to: "", status: 400),
    ("no Upgrade", from: "Upgrade: websocket\r\n", to: "", status: 400),
    ("Upgrade: h2c", from: "Upgrade: websocket", to: "Upgrade: h2c", status: 400),
    ("no Connection", from: "Connection: Upgrade\r\n", to: "", status: 400),
    ("Connection: close", from: "Connection: Upgrade", to: "Connection: close", status: 400),
    ("no key", from: "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", to: "", status: 400),
    ("short key", from: "dGhlIHNhbXBsZSBub25jZQ==", to: "dGhlIHNhbXBsZQ==", status: 400),
    ("key not base64", from: "dGhlIHNhbXBsZSBub25jZQ==", to: "not base64 at all!!!!!!!", status: 400),
    ("no version", from: "Sec-WebSocket-Version: 13\r\n", to: "", status: 400),
    ("version 8", from: "Sec-WebSocket-Version: 13", to: "Sec-WebSocket-Version: 8", status: 426),
  ]

  @Test("each required header, missing or wrong, is refused with the status section 4.2 asks for")
  func serverRefusesMalformed() throws {
    for (name, from, to, status) in Self.malformed {
      let text = Self.sampleRequest.replacingFirst(from, with: to)
      let request = try #require(try Self.parseRequest(text), "\(name)")
      #expect(throws: ServerHandshake.Rejection.self, "\(name)") { try ServerHandshake.validate(request) }
      do {
        _ = try ServerHandshake.validate(request)
      } catch {
        #expect(error.status == status, "\(name): \(error)")
        if status == 426 { #expect(error.response.headers["Sec-WebSocket-Version"] == "13") }
      }
    }
  }

  @Test("token lists are case-insensitive and may hold several tokens")
  func tokenLists() throws {
    let text = Self.sampleRequest.replacingFirst("Connection: Upgrade", with: "Connection: keep-alive, UPGRADE")
      .replacingFirst("Upgrade: websocket", with: "upgrade: WebSocket")
    let request = try #require(try Self.parseRequest(text))
    #expect(throws: Never.self) { try ServerHandshake.validate(request) }
  }

  @Test("the head parser enforces its size and count limits, and leaves bytes after the head alone")
  func headLimits() throws {
    let huge = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
    #expect(throws: HandshakeError.headTooLarge(limit: 16 * 1024)) { try Self.parseRequest(huge) }
    let many = "GET / HTTP/1.1\r\n" + (0..<101).map { "X-\($0): 1\r\n" }.joined() + "\r\n"
    #expect(throws: HandshakeError.tooManyHeaders(limit: 100)) { try Self.parseRequest(many) }
    #expect(throws: HandshakeError.self) { try Self.parseRequest("GET / HTTP/1.1\r\n folded: x\r\n\r\n") }
    #expect(throws: HandshakeError.self) { try Self.parseRequest("GET / HTTP/1.1\r\nName : x\r\n\r\n") }
    #expect(throws: HandshakeError.self) { try Self.parseRequest("GET /\r\n\r\n") }
    #expect(try Self.parseRequest("GET / HTTP/1.1\r\nHost: a\r\n") == nil, "incomplete head: need more bytes")

    // Bytes after the empty line belong to the WebSocket stream.
    var parser = HTTPHeadParser()
    let bytes = Array((Self.sampleRequest).utf8) + [0x81, 0x80]
    var offset = 0
    let head = try bytes.withUnsafeBytes { raw in try parser.parseRequest(raw, offset: &offset) }
    #expect(head != nil && offset == bytes.count - 2)
  }

  @Test("the client request carries every required header and the custom ones")
  func clientRequest() throws {
    var custom = HTTPHeaders()
    custom.add(name: "X-Token", value: "abc")
    custom.add(name: "Upgrade", value: "evil")  // owned by the handshake: replaced
    let handshake = ClientHandshake(
      host: "example.com:8080", target: "/chat?room=1", subprotocols: ["chat", "v2"],
      extensionOffers: [
        ExtensionOffer(name: "permessage-deflate", parameters: [.init(name: "client_max_window_bits")])
      ],
      headers: custom, random: FixedRandom(Array(0..<16)))
    let request = handshake.request
    #expect(request.method == "GET" && request.target == "/chat?room=1" && request.query == "room=1")
    #expect(request.headers["Host"] == "example.com:8080")
    #expect(request.headers.values(name: "Upgrade") == ["websocket"])
    #expect(request.headers["Sec-WebSocket-Version"] == "13")
    #expect(request.headers["Sec-WebSocket-Key"] == Base64.encode(Array(0..<16)))
    #expect(request.headers["Sec-WebSocket-Protocol"] == "chat, v2")
    #expect(request.headers["Sec-WebSocket-Extensions"] == "permessage-deflate; client_max_window_bits")
    #expect(request.headers["X-Token"] == "abc")
    // The server side accepts what the client builds.
    let parsed = try #require(try Self.parseRequest(String(decoding: request.serialized(), as: UTF8.self)))
    #expect(throws: Never.self) { try ServerHandshake.validate(parsed) }
  }

  @Test("a Sec-WebSocket-Protocol request header is an offer, merged behind the configured subprotocols, each once")
  func subprotocolHeaderMerged() throws {
    var custom = HTTPHeaders()
    custom.add(name: "sec-websocket-protocol", value: "chat, superchat")
    custom.add(name: "Sec-WebSocket-Protocol", value: "v2")
    let handshake = ClientHandshake(host: "h", target: "/", subprotocols: ["v2"], headers: custom)
    #expect(handshake.subprotocols == ["v2", "chat", "superchat"])
    #expect(handshake.request.headers.values(name: "Sec-WebSocket-Protocol") == ["v2, chat, superchat"])
    let accept = WebSocketAccept.value(forKey: handshake.key)
    let response = try #require(
      try Self.parseResponse(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          + "Sec-WebSocket-Accept: \(accept)\r\nSec-WebSocket-Protocol: superchat\r\n\r\n"))
    #expect(try handshake.validate(response).subprotocol == "superchat")
  }

  @Test("the client validates status, Upgrade, Connection, accept, subprotocol and extensions")
  func clientValidatesResponse() throws {
    let handshake = ClientHandshake(
      host: "h", target: "/", subprotocols: ["chat"], extensionOffers: [ExtensionOffer(name: "permessage-deflate")])
    let accept = WebSocketAccept.value(forKey: handshake.key)
    func response(_ lines: [String], status: String = "101 Switching Protocols") throws -> HTTPResponseHead {
      try #require(try Self.parseResponse("HTTP/1.1 \(status)\r\n" + lines.map { $0 + "\r\n" }.joined() + "\r\n"))
    }
    let good = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: \(accept)"]
    #expect(try handshake.validate(response(good)) == .init(subprotocol: nil, extensions: []))
    let chosen = try handshake.validate(
      response(
        good + [
          "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
        ]))
    #expect(
      chosen.subprotocol == "chat" && chosen.extensions.first?.parameters.first?.name == "server_no_context_takeover")

    let refused = try response(["Content-Length: 0"], status: "403 Forbidden")
    #expect(throws: HandshakeError.unexpectedStatus(403, refused)) { try handshake.validate(refused) }
    #expect(
      HandshakeError.unexpectedStatus(404, refused).description
        == "Handshake exception, expected status code 101 but was 404")
    #expect(throws: HandshakeError.invalidHeader(name: "Upgrade", found: nil)) {
      try handshake.validate(response(Array(good.dropFirst())))
    }
    #expect(throws: HandshakeError.invalidHeader(name: "Connection", found: "close")) {
      try handshake.validate(response([good[0], "Connection: close", good[2]]))
    }
    #expect(throws: HandshakeError.invalidAccept(expected: accept, found: "wrong")) {
      try handshake.validate(response([good[0], good[1], "Sec-WebSocket-Accept: wrong"]))
    }
    #expect(throws: HandshakeError.unofferedSubprotocol("other")) {
      try handshake.validate(response(good + ["Sec-WebSocket-Protocol: other"]))
    }
    #expect(throws: HandshakeError.unofferedExtension("x-custom")) {
      try handshake.validate(response(good + ["Sec-WebSocket-Extensions: x-custom"]))
    }
  }

  @Test("section 9.1: extension header grammar with tokens, quoted strings and several offers")
  func extensionGrammar() throws {
    let offers = try ExtensionHeader.parse(
      "permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", permessage-deflate ,, x-foo;a=b")
    #expect(offers.count == 3)
    #expect(
      offers[0].parameters == [
        .init(name: "client_max_window_bits"), .init(name: "server_max_window_bits", value: "10"),
      ])
    #expect(offers[1] == ExtensionOffer(name: "permessage-deflate"))
    #expect(offers[2].description == "x-foo; a=b")
    for bad in [
      "permessage-deflate;", "a; b=", "a b", "a; b=\"not a token\"", "a; b=\"unterminated", "\"quoted-name\"", "a;;b",
    ] {
      #expect(throws: HandshakeError.malformedExtensionHeader(bad), "\(bad)") { try ExtensionHeader.parse(bad) }
    }
  }
}

extension String {
  func replacingFirst(_ target: String, with replacement: String) -> String {
    guard let range = range(of: target) else { return self }
    return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
  }

  private func range(of target: String) -> Range<String.Index>? {
    var index = startIndex
    while index < endIndex {
      if self[index...].hasPrefix(target) { return index..<(self.index(index, offsetBy: target.count)) }
      index = self.index(after: index)
    }
    return nil
  }
}
