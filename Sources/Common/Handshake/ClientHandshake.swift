/// The client side of the opening handshake (RFC 6455 section 4.1): builds the upgrade request and validates the
/// server's response.
package struct ClientHandshake: Sendable, Hashable {
  /// The `Sec-WebSocket-Key` sent, needed to check the accept value.
  package let key: String
  /// The subprotocols offered, in preference order.
  package let subprotocols: [String]
  /// The extensions offered, in preference order.
  package let extensionOffers: [ExtensionOffer]
  /// The request to send.
  package let request: HTTPRequestHead

  /// Builds an upgrade request.
  ///
  /// - Parameters:
  ///   - host: the `Host` header value, including `:port` when it is not the scheme's default (RFC 6455 section
  ///     4.1, point 4); an IPv6 literal in brackets.
  ///   - target: the path and query, such as `/chat?room=1` (`/` when empty).
  ///   - subprotocols: the subprotocols offered, in preference order (`Sec-WebSocket-Protocol`).
  ///   - extensionOffers: the extensions offered, in preference order (`Sec-WebSocket-Extensions`).
  ///   - headers: further headers (custom headers, `Origin`, cookies). Headers that the handshake owns are
  ///     replaced. A `Sec-WebSocket-Protocol` header (Ktor's idiom for offering a subprotocol) counts as an offer:
  ///     its values are merged behind `subprotocols`, each once.
  ///   - random: the source of the key's 16 random bytes.
  package init(
    host: String, target: String, subprotocols: [String] = [], extensionOffers: [ExtensionOffer] = [],
    headers: HTTPHeaders = HTTPHeaders(), random: any SecureRandomSource = SystemSecureRandom()
  ) {
    let key = WebSocketAccept.makeKey(random: random)
    self.key = key
    var offered = subprotocols
    for field in headers where HTTPHeaders.namesMatch(field.name, "Sec-WebSocket-Protocol") {
      for value in field.value.split(separator: ",") {
        let token = HTTPSyntax.trimmingWhitespace(value)
        if !token.isEmpty && !offered.contains(token) { offered.append(token) }
      }
    }
    let subprotocols = offered
    self.subprotocols = subprotocols
    self.extensionOffers = extensionOffers
    var fields = HTTPHeaders()
    fields.add(name: "Host", value: host)
    fields.add(name: "Upgrade", value: "websocket")
    fields.add(name: "Connection", value: "Upgrade")
    fields.add(name: "Sec-WebSocket-Key", value: key)
    fields.add(name: "Sec-WebSocket-Version", value: "13")
    if !subprotocols.isEmpty {
      fields.add(name: "Sec-WebSocket-Protocol", value: subprotocols.joined(separator: ", "))
    }
    if !extensionOffers.isEmpty {
      fields.add(name: "Sec-WebSocket-Extensions", value: ExtensionHeader.serialize(extensionOffers))
    }
    let owned = ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"]
    for field in headers where !owned.contains(where: { HTTPHeaders.namesMatch($0, field.name) }) {
      if HTTPHeaders.namesMatch(field.name, "Sec-WebSocket-Protocol")
        || (HTTPHeaders.namesMatch(field.name, "Sec-WebSocket-Extensions") && !extensionOffers.isEmpty)
      {
        continue
      }
      fields.add(name: field.name, value: field.value)
    }
    request = HTTPRequestHead(method: "GET", target: target.isEmpty ? "/" : target, headers: fields)
  }

  /// The request as an HTTP/2 extended CONNECT (RFC 8441 section 5): method CONNECT, version 2.0, without the fields
  /// HTTP/2 has no use for (`Upgrade`, `Connection`, `Sec-WebSocket-Key`); `Host` stays, for `:authority`.
  package var extendedConnectRequest: HTTPRequestHead {
    var fields = HTTPHeaders()
    for field in request.headers
    where !["Upgrade", "Connection", "Sec-WebSocket-Key"].contains(where: { HTTPHeaders.namesMatch($0, field.name) }) {
      fields.add(name: field.name, value: field.value)
    }
    return HTTPRequestHead(
      method: "CONNECT", target: request.target, version: HTTPVersion(major: 2, minor: 0), headers: fields)
  }

  /// What the server agreed to.
  package struct Accepted: Sendable, Hashable {
    /// The subprotocol the server selected, if any.
    package var subprotocol: String?
    /// The extensions the server accepted, with its parameters, in the order it listed them.
    package var extensions: [ExtensionOffer]

    /// Creates the outcome of a handshake.
    package init(subprotocol: String?, extensions: [ExtensionOffer]) {
      self.subprotocol = subprotocol
      self.extensions = extensions
    }
  }

  /// Validates the server's response (RFC 6455 section 4.1, "the client MUST validate the server's response as
  /// follows"). Extension parameters are checked by the extensions themselves; this checks that each name was
  /// offered.
  package func validate(_ response: HTTPResponseHead) throws(HandshakeError) -> Accepted {
    // 1. "If the status code received from the server is not 101, the client handles the response per HTTP".
    guard response.status == 101 else { throw .unexpectedStatus(response.status, response) }
    // 2. "If the response lacks an |Upgrade| header field or the |Upgrade| header field contains a value that is
    //    not an ASCII case-insensitive match for the value 'websocket', the client MUST _Fail_".
    guard response.headers.listContains(name: "Upgrade", token: "websocket") else {
      throw .invalidHeader(name: "Upgrade", found: response.headers["Upgrade"])
    }
    // 3. "If the response lacks a |Connection| header field or the |Connection| header field doesn't contain a
    //    token that is an ASCII case-insensitive match for the value 'Upgrade', the client MUST _Fail_".
    guard response.headers.listContains(name: "Connection", token: "Upgrade") else {
      throw .invalidHeader(name: "Connection", found: response.headers["Connection"])
    }
    // 4. The |Sec-WebSocket-Accept| must be the base64 SHA-1 of the key and the GUID.
    let expected = WebSocketAccept.value(forKey: key)
    let accepts = response.headers.values(name: "Sec-WebSocket-Accept")
    guard accepts.count == 1, accepts[0] == expected else {
      throw .invalidAccept(expected: expected, found: accepts.first)
    }
    return try validateOffers(response)
  }

  /// Validates the response to an extended CONNECT (RFC 8441 section 5): "a 2xx series status code" accepts (there
  /// is no key and no accept value over HTTP/2); the subprotocol and the extensions as over HTTP/1.1.
  package func validateExtendedConnect(_ response: HTTPResponseHead) throws(HandshakeError) -> Accepted {
    guard (200...299).contains(response.status) else { throw .unexpectedStatus(response.status, response) }
    return try validateOffers(response)
  }

  /// RFC 6455 section 4.1, the last two checks, shared by both forms.
  private func validateOffers(_ response: HTTPResponseHead) throws(HandshakeError) -> Accepted {
    // 5. Every extension in the response must have been offered.
    let extensions = try ExtensionHeader.parse(response.headers.values(name: "Sec-WebSocket-Extensions"))
    for chosen in extensions where !extensionOffers.contains(where: { $0.name == chosen.name }) {
      throw .unofferedExtension(chosen.name)
    }
    // 6. A subprotocol in the response must be one that was offered.
    let protocols = response.headers.listElements(name: "Sec-WebSocket-Protocol")
    guard protocols.count <= 1 else {
      throw .invalidHeader(name: "Sec-WebSocket-Protocol", found: protocols.joined(separator: ", "))
    }
    if let chosen = protocols.first, !subprotocols.contains(chosen) { throw .unofferedSubprotocol(chosen) }
    return Accepted(subprotocol: protocols.first, extensions: extensions)
  }
}
