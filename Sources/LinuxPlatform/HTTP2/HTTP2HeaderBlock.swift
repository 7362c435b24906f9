import WispCommon

/// The fields of one HEADERS block (a request on a server, a response on a client), collected one field at a time
/// (nghttp2 has decoded HPACK and checked the fields against RFC 9113 section 8: pseudo-headers first and once, no
/// connection-specific fields, lowercase names), bounded like an HTTP/1.1 head.
struct HTTP2HeaderBlock {
  var method = ""
  var path = ""
  var scheme = ""
  var authority: String?
  /// `:protocol` (RFC 8441 section 4), present only on an extended CONNECT.
  var connectProtocol: String?
  /// `:status`, on a response.
  var status: Int?
  var headers = HTTPHeaders()
  /// The bytes of the fields so far, counted as HTTP/1.1 would (`name: value` and a line end), and their number.
  private(set) var size = 0
  private(set) var count = 0
  /// The limit the fields went past, if they did; the rest is dropped and the request is answered 431.
  private(set) var exceeded: HandshakeError?

  /// Adds one field, unless the limits were passed.
  mutating func add(name: String, value: String, limits: HTTPHeadLimits) {
    guard exceeded == nil else { return }
    size += name.utf8.count + value.utf8.count + 4
    count += 1
    if size > limits.maxHeadSize {
      exceeded = .headTooLarge(limit: limits.maxHeadSize)
      return
    }
    if count > limits.maxHeaderCount {
      exceeded = .tooManyHeaders(limit: limits.maxHeaderCount)
      return
    }
    switch name {
    case ":method": method = value
    case ":path": path = value
    case ":scheme": scheme = value
    case ":authority": authority = value
    case ":protocol": connectProtocol = value
    case ":status": status = Int(value)
    default: headers.add(name: name, value: value)
    }
  }

  /// The request as the server's routing sees it: version 2.0, `:authority` as `Host` (RFC 9113 section 8.3.1:
  /// a server treats them alike; a request with both keeps its `Host`).
  var requestHead: HTTPRequestHead {
    var fields = headers
    if let authority, fields["Host"] == nil { fields.add(name: "Host", value: authority) }
    return HTTPRequestHead(
      method: method, target: path.isEmpty ? "/" : path, version: HTTPVersion(major: 2, minor: 0), headers: fields)
  }

  /// The response as the client's handshake sees it: version 2.0, `:status` as the status.
  var responseHead: HTTPResponseHead {
    HTTPResponseHead(version: HTTPVersion(major: 2, minor: 0), status: status ?? 0, headers: headers)
  }
}
