/// The server side of the opening handshake (RFC 6455 section 4.2): validates a client's upgrade request and
/// builds the 101 response, or the error response that refuses it.
package enum ServerHandshake {
  /// A client request that passed every check of RFC 6455 section 4.2.1.
  package struct Upgrade: Sendable, Hashable {
    /// The request as received.
    package var request: HTTPRequestHead
    /// The client's `Sec-WebSocket-Key`.
    package var key: String
    /// The subprotocols the client offered, in its preference order.
    package var subprotocols: [String]
    /// The extensions the client offered, in its preference order.
    package var extensionOffers: [ExtensionOffer]
  }

  /// Why a request was refused, and the response that says so.
  package struct Rejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status to answer with (400, 405 or 426).
    package var status: Int
    /// What was wrong, for the response body and logs.
    package var reason: String
    /// Headers the response must carry (`Sec-WebSocket-Version: 13` with a 426, `Allow: GET` with a 405).
    package var headers: HTTPHeaders

    /// The response head, with a plain-text body length.
    package var response: HTTPResponseHead {
      var fields = headers
      fields.add(name: "Content-Type", value: "text/plain; charset=utf-8")
      fields.add(name: "Content-Length", value: String(reason.utf8.count))
      fields.add(name: "Connection", value: "close")
      return HTTPResponseHead(status: status, headers: fields)
    }

    /// The response bytes: head and body.
    package func serialized() -> [UInt8] { response.serialized() + Array(reason.utf8) }

    /// `"400: missing Sec-WebSocket-Key header"`.
    package var description: String { "\(status): \(reason)" }
  }

  /// Whether `request` asks for a WebSocket upgrade at all (it carries `Upgrade: websocket`), so that a router can
  /// tell a WebSocket request from a plain HTTP one before validating it.
  package static func isUpgradeRequest(_ request: HTTPRequestHead) -> Bool {
    request.headers.listContains(name: "Upgrade", token: "websocket")
  }

  /// Validates a client's opening handshake (RFC 6455 section 4.2.1).
  package static func validate(_ request: HTTPRequestHead) throws(Rejection) -> Upgrade {
    // 1. "An HTTP/1.1 or higher GET request". A request line of the HTTP/1 form with another version is no such
    // request: 1.0 and 0.9 have no upgrade, and HTTP/2 and HTTP/3 are binary protocols with their own WebSocket
    // bootstrap (RFC 8441, RFC 9220), never a text request line. A well-formed version other than 1.1 is answered
    // "505 HTTP Version Not Supported" (RFC 9110 section 15.6.6); a malformed one never parses (400).
    guard request.version == .http11 else {
      throw Rejection(
        status: 505, reason: "a WebSocket upgrade is an HTTP/1.1 request, not \(request.version)", headers: [:])
    }
    guard request.method == "GET" else {
      throw Rejection(
        status: 405, reason: "a WebSocket upgrade must use GET, not \(request.method)", headers: ["Allow": "GET"])
    }
    // 2. "A |Host| header field containing the server's authority."
    guard request.headers.values(name: "Host").count == 1 else {
      throw bad("a WebSocket upgrade needs exactly one Host header")
    }
    // 3. "An |Upgrade| header field containing the value 'websocket', treated as an ASCII case-insensitive value."
    guard isUpgradeRequest(request) else { throw bad("missing Upgrade: websocket header") }
    // 4. "A |Connection| header field that includes the token 'Upgrade', treated as an ASCII case-insensitive
    //    value."
    guard request.headers.listContains(name: "Connection", token: "Upgrade") else {
      throw bad("missing Connection: Upgrade header")
    }
    // 5. "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16 bytes in
    //    length."
    let keys = request.headers.values(name: "Sec-WebSocket-Key")
    guard keys.count == 1, WebSocketAccept.isValidKey(keys[0]) else {
      throw bad(keys.isEmpty ? "missing Sec-WebSocket-Key header" : "Sec-WebSocket-Key must be 16 bytes in base64")
    }
    // 6. "A |Sec-WebSocket-Version| header field, with a value of 13." Otherwise (section 4.4) answer with the
    //    versions we speak: "426 Upgrade Required" and "Sec-WebSocket-Version: 13".
    let versions = request.headers.listElements(name: "Sec-WebSocket-Version")
    guard !versions.isEmpty else { throw bad("missing Sec-WebSocket-Version header") }
    guard versions == ["13"] else {
      throw Rejection(
        status: 426, reason: "unsupported Sec-WebSocket-Version \(versions.joined(separator: ", ")), use 13",
        headers: ["Sec-WebSocket-Version": "13"])
    }
    // 8-9. Optional subprotocols and extensions.
    let offers: [ExtensionOffer]
    do {
      offers = try ExtensionHeader.parse(request.headers.values(name: "Sec-WebSocket-Extensions"))
    } catch {
      throw bad(error.description)
    }
    return Upgrade(
      request: request, key: keys[0], subprotocols: request.headers.listElements(name: "Sec-WebSocket-Protocol"),
      extensionOffers: offers)
  }

  /// The 101 response that accepts `upgrade` (RFC 6455 section 4.2.2, point 5).
  ///
  /// - Parameters:
  ///   - upgrade: the validated upgrade request (its key gives `Sec-WebSocket-Accept`).
  ///   - subprotocol: the subprotocol selected, which must be one the client offered.
  ///   - extensions: the extensions accepted, with the parameters of the server's response.
  ///   - headers: further headers, such as cookies.
  package static func response(
    accepting upgrade: Upgrade, subprotocol: String? = nil, extensions: [ExtensionOffer] = [],
    headers: HTTPHeaders = HTTPHeaders()
  ) -> HTTPResponseHead {
    var fields = HTTPHeaders()
    fields.add(name: "Upgrade", value: "websocket")
    fields.add(name: "Connection", value: "Upgrade")
    fields.add(name: "Sec-WebSocket-Accept", value: WebSocketAccept.value(forKey: upgrade.key))
    if let subprotocol { fields.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
    if !extensions.isEmpty {
      fields.add(name: "Sec-WebSocket-Extensions", value: ExtensionHeader.serialize(extensions))
    }
    for field in headers { fields.add(name: field.name, value: field.value) }
    return HTTPResponseHead(status: 101, headers: fields)
  }

  private static func bad(_ reason: String) -> Rejection {
    Rejection(status: 400, reason: reason, headers: [:])
  }
}
