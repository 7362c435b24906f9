import WispCommon

/// Opens a tunnel through an HTTP `CONNECT` or SOCKS5 proxy on a connected socket, with the messages of
/// `ProxyHandshake`. Runs on the socket's loop; the caller bounds it in time (the connect timeout).
enum ProxyTunnel {
  /// The largest answer read from a proxy before its end: 16 KiB (an HTTP head), so a proxy that talks forever
  /// fails instead of growing a buffer.
  static let maxAnswer = 16 * 1024

  /// Asks `proxy`, over `socket`, for a tunnel to `host`:`port`. On return the socket carries the tunnel.
  ///
  /// - Throws: ``ProxyError`` for what the proxy answered, ``TransportError`` for the connection.
  static func open(over socket: any Transport, proxy: Proxy, host: String, port: Int) async throws {
    var reader = AnswerReader(socket: socket, proxy: proxy)
    switch proxy.kind {
    case .http, .https:
      try await socket.write(ProxyHandshake.connectRequest(host: host, port: port, proxy: proxy))
      let response = try await reader.responseHead()
      try ProxyHandshake.checkConnectResponse(response, proxy: proxy)
    case .socks5, .socks5h:
      var target = host
      if proxy.kind == .socks5, SocketAddress(ipLiteral: host, port: port) == nil {
        // socks5:// resolves here; socks5h:// lets the proxy resolve.
        let addresses = try await Resolver.resolve(host: host, port: port)
        if case .ipv4(let address, _)? = addresses.first?.kind { target = address }
        if case .ipv6(let address, _)? = addresses.first?.kind { target = address }
      }
      try await socket.write(ProxyHandshake.socksGreeting(proxy: proxy))
      let method = try ProxyHandshake.socksMethod(try await reader.exactly(2), proxy: proxy)
      if method == 2 {
        try await socket.write(try ProxyHandshake.socksAuthentication(proxy: proxy))
        try ProxyHandshake.checkSocksAuthentication(try await reader.exactly(2), proxy: proxy)
      }
      try await socket.write(try ProxyHandshake.socksConnectRequest(host: target, port: port))
      let prefix = try await reader.exactly(5)
      guard let length = ProxyHandshake.socksReplyLength(prefix) else {
        try ProxyHandshake.checkSocksReply(prefix, proxy: proxy)  // a failure code explains itself
        throw ProxyError.malformedResponse(proxy: proxy.description, detail: "not a SOCKS5 reply: \(prefix)")
      }
      try ProxyHandshake.checkSocksReply(prefix + (try await reader.exactly(length - 5)), proxy: proxy)
    }
    guard reader.pending.isEmpty else {
      throw ProxyError.malformedResponse(
        proxy: proxy.description, detail: "\(reader.pending.count) bytes after its answer, before the server spoke")
    }
  }

  /// Reads a proxy's answers: exact lengths, or an HTTP head; bounded by ``maxAnswer``.
  struct AnswerReader {
    let socket: any Transport
    let proxy: Proxy
    var pending: [UInt8] = []

    mutating func more() async throws {
      let chunk = try await socket.read { Array($0) }
      guard !chunk.isEmpty else {
        throw ProxyError.malformedResponse(proxy: proxy.description, detail: "it closed the connection")
      }
      pending += chunk
      guard pending.count <= ProxyTunnel.maxAnswer else {
        throw ProxyError.malformedResponse(proxy: proxy.description, detail: "an answer longer than 16 KiB")
      }
    }

    mutating func exactly(_ count: Int) async throws -> [UInt8] {
      while pending.count < count { try await more() }
      let bytes = Array(pending.prefix(count))
      pending.removeFirst(count)
      return bytes
    }

    mutating func responseHead() async throws -> HTTPResponseHead {
      var parser = HTTPHeadParser(limits: .init(maxHeadSize: ProxyTunnel.maxAnswer, maxHeaderCount: 100))
      while true {
        var offset = 0
        let parsed: HTTPResponseHead?
        do {
          parsed = try pending.withUnsafeBytes { try parser.parseResponse($0, offset: &offset) }
        } catch {
          throw ProxyError.malformedResponse(proxy: proxy.description, detail: "\(error)")
        }
        if let parsed {
          pending.removeFirst(offset)
          return parsed
        }
        parser = HTTPHeadParser(limits: .init(maxHeadSize: ProxyTunnel.maxAnswer, maxHeaderCount: 100))
        try await more()
      }
    }
  }
}
