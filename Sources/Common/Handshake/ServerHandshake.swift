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
    /// Whether the request is an HTTP/2 extended CONNECT (RFC 8441), accepted with a 200 and no key, rather than
    /// an HTTP/1.1 upgrade accepted with a 101.
    package var isExtendedConnect = false
  }

  /// How a request reached the server: an HTTP/1.1 request line, or an HTTP/2 stream's HEADERS with the value of
  /// its `:protocol` pseudo-header (RFC 8441 section 4), `nil` when it had none.
  package enum RequestForm: Sendable, Hashable {
    /// An HTTP/1.1 request (RFC 6455 section 4.2.1 applies).
    case http1
    /// An HTTP/2 stream's request (RFC 8441 section 5 applies to a CONNECT with `:protocol`).
    case http2(connectProtocol: String?)
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
    return try validateVersionAndOffers(request, key: keys[0])
  }

  /// RFC 6455 section 4.2.1 points 6, 8 and 9, shared by both forms: the version, the subprotocols, the extensions.
  private static func validateVersionAndOffers(_ request: HTTPRequestHead, key: String) throws(Rejection) -> Upgrade {
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
      request: request, key: key, subprotocols: request.headers.listElements(name: "Sec-WebSocket-Protocol"),
      extensionOffers: offers)
  }

  /// Validates an HTTP/2 extended CONNECT (RFC 8441 section 5): "The :method pseudo-header field is set to
  /// CONNECT" and "The :protocol pseudo-header field MUST be included" with the value `websocket`; "The
  /// |Sec-WebSocket-Key| and |Sec-WebSocket-Accept| header fields are not used"; the version, the Origin, the
  /// subprotocols and extensions are those of RFC 6455. `request.headers` carries `:authority` as `Host`.
  package static func validateExtendedConnect(
    _ request: HTTPRequestHead, connectProtocol: String?
  ) throws(Rejection) -> Upgrade {
    guard request.method == "CONNECT", let connectProtocol else {
      throw Rejection(
        status: 405, reason: "a WebSocket over HTTP/2 is an extended CONNECT (RFC 8441), not \(request.method)",
        headers: [:])
    }
    guard connectProtocol == "websocket" else {
      throw bad("the :protocol \(connectProtocol) is not served here, only websocket")
    }
    guard request.headers.values(name: "Host").count == 1 else {
      throw bad("an extended CONNECT needs exactly one :authority")
    }
    var upgrade = try validateVersionAndOffers(request, key: "")
    upgrade.isExtendedConnect = true
    return upgrade
  }

  /// The request of `form` validated: ``validate(_:)`` for HTTP/1.1, ``validateExtendedConnect(_:connectProtocol:)``
  /// for HTTP/2.
  package static func validate(_ request: HTTPRequestHead, form: RequestForm) throws(Rejection) -> Upgrade {
    switch form {
    case .http1: try validate(request)
    case .http2(let connectProtocol): try validateExtendedConnect(request, connectProtocol: connectProtocol)
    }
  }

  /// The response that accepts `upgrade`: for HTTP/1.1 a 101 (RFC 6455 section 4.2.2, point 5); for an extended
  /// CONNECT a 200 without `Upgrade`, `Connection` or `Sec-WebSocket-Accept` (RFC 8441 section 5: "a 2xx series
  /// status code"; connection-specific fields are not allowed in HTTP/2, RFC 9113 section 8.2.2).
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
    if !upgrade.isExtendedConnect {
      fields.add(name: "Upgrade", value: "websocket")
      fields.add(name: "Connection", value: "Upgrade")
      fields.add(name: "Sec-WebSocket-Accept", value: WebSocketAccept.value(forKey: upgrade.key))
    }
    if let subprotocol { fields.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
    if !extensions.isEmpty {
      fields.add(name: "Sec-WebSocket-Extensions", value: ExtensionHeader.serialize(extensions))
    }
    for field in headers { fields.add(name: field.name, value: field.value) }
    return HTTPResponseHead(status: upgrade.isExtendedConnect ? 200 : 101, headers: fields)
  }

  private static func bad(_ reason: String) -> Rejection {
    Rejection(status: 400, reason: reason, headers: [:])
  }
}
