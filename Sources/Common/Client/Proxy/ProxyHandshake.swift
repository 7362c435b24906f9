/// The bytes of the proxy protocols, sans I/O: what to send, and what an answer means. The platform's connector does
/// the reading and writing, within the connect timeout.
package enum ProxyHandshake {
  // MARK: HTTP CONNECT

  /// `CONNECT host:port HTTP/1.1` with `Host` and, with credentials, `Proxy-Authorization: Basic` (RFC 9110
  /// sections 9.3.6 and 11.7.2).
  package static func connectRequest(host: String, port: Int, proxy: Proxy) -> [UInt8] {
    let authority = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    var head = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
    if let username = proxy.username {
      let credentials = Base64.encode(Array("\(username):\(proxy.password ?? "")".utf8))
      head += "Proxy-Authorization: Basic \(credentials)\r\n"
    }
    return Array((head + "\r\n").utf8)
  }

  /// Checks the proxy's answer to `CONNECT`: any 2xx opens the tunnel; 407 (and 401, which tinyproxy answers to
  /// wrong credentials) means the credentials are missing or wrong.
  package static func checkConnectResponse(_ response: HTTPResponseHead, proxy: Proxy) throws(ProxyError) {
    switch response.status {
    case 200...299: return
    case 401, 407: throw .authenticationRequired(proxy: proxy.description)
    default: throw .refused(proxy: proxy.description, status: response.status, reason: response.reason)
    }
  }

  // MARK: SOCKS5

  /// The greeting: version 5 and the methods offered: "no authentication" (0), and "username/password" (2) when
  /// the proxy has credentials (RFC 1928 section 3).
  package static func socksGreeting(proxy: Proxy) -> [UInt8] {
    proxy.username == nil ? [5, 1, 0] : [5, 2, 0, 2]
  }

  /// The method the proxy chose, from its two-byte answer: 0 or 2.
  package static func socksMethod(_ answer: [UInt8], proxy: Proxy) throws(ProxyError) -> UInt8 {
    guard answer.count == 2, answer[0] == 5 else {
      throw .malformedResponse(proxy: proxy.description, detail: "not a SOCKS5 method selection: \(answer)")
    }
    switch answer[1] {
    case 0: return 0
    case 2 where proxy.username != nil: return 2
    default: throw .noAcceptableAuthentication(proxy: proxy.description)
    }
  }

  /// The username/password request (RFC 1929): version 1, then each as a length byte and bytes (at most 255).
  package static func socksAuthentication(proxy: Proxy) throws(ProxyError) -> [UInt8] {
    let user = Array((proxy.username ?? "").utf8)
    let password = Array((proxy.password ?? "").utf8)
    guard user.count <= 255, password.count <= 255 else {
      throw .unsupported("SOCKS5 user names and passwords are at most 255 bytes")
    }
    return [1, UInt8(user.count)] + user + [UInt8(password.count)] + password
  }

  /// Checks the two-byte answer to the username/password request: status 0 is success.
  package static func checkSocksAuthentication(_ answer: [UInt8], proxy: Proxy) throws(ProxyError) {
    guard answer.count == 2, answer[0] == 1 else {
      throw .malformedResponse(proxy: proxy.description, detail: "not a SOCKS5 authentication reply: \(answer)")
    }
    guard answer[1] == 0 else { throw .authenticationFailed(proxy: proxy.description) }
  }

  /// The CONNECT request: the server as a domain name (type 3) when the proxy resolves names (`socks5h`) or
  /// `host` is not an IP literal... for `socks5`, the connector resolves the name first and passes the address.
  package static func socksConnectRequest(host: String, port: Int) throws(ProxyError) -> [UInt8] {
    var request: [UInt8] = [5, 1, 0]
    if let address = IPAddressParsing.bytes(host) {
      request += [address.count == 4 ? 1 : 4] + address
    } else {
      let name = Array(host.utf8)
      guard name.count <= 255 else { throw .unsupported("SOCKS5 host names are at most 255 bytes") }
      request += [3, UInt8(name.count)] + name
    }
    return request + [UInt8(port >> 8), UInt8(port & 0xFF)]
  }

  /// The length of the proxy's reply to CONNECT, once its first 5 bytes are known (it depends on the address
  /// type); `nil` when they are not a SOCKS5 reply.
  package static func socksReplyLength(_ prefix: [UInt8]) -> Int? {
    guard prefix.count >= 5, prefix[0] == 5 else { return nil }
    switch prefix[3] {
    case 1: return 4 + 4 + 2
    case 4: return 4 + 16 + 2
    case 3: return 4 + 1 + Int(prefix[4]) + 2
    default: return nil
    }
  }

  /// Checks the reply to CONNECT: code 0 means the tunnel is open.
  package static func checkSocksReply(_ reply: [UInt8], proxy: Proxy) throws(ProxyError) {
    guard reply.count >= 2, reply[0] == 5 else {
      throw .malformedResponse(proxy: proxy.description, detail: "not a SOCKS5 reply: \(reply.prefix(8))")
    }
    let meanings: [UInt8: String] = [
      1: "general SOCKS server failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
      4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported",
      8: "address type not supported",
    ]
    guard reply[1] == 0 else {
      throw .socksConnectFailed(
        proxy: proxy.description, code: reply[1], meaning: meanings[reply[1]] ?? "unassigned reply code")
    }
  }
}
