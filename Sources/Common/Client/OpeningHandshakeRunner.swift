/// Runs the client side of the opening handshake on the transport's executor: writes the request, reads the
/// response head, and keeps the bytes that arrived behind it.
actor OpeningHandshakeRunner {
  nonisolated let transport: any Transport
  nonisolated var unownedExecutor: UnownedSerialExecutor { transport.executor }

  init(transport: any Transport) {
    self.transport = transport
  }

  /// Sends `request` and returns the response head and the leftover bytes.
  func exchange(_ request: HTTPRequestHead) async throws -> (HTTPResponseHead, [UInt8]) {
    try await transport.write(request.serialized())
    var parser = HTTPHeadParser()
    while true {
      var leftover: [UInt8] = []
      let outcome = try await transport.read { bytes -> (HTTPResponseHead?, Bool) in
        if bytes.isEmpty { return (nil, true) }
        var offset = 0
        let head = try parser.parseResponse(bytes, offset: &offset)
        if head != nil { leftover = Array(bytes[offset...]) }
        return (head, false)
      }
      if let head = outcome.0 { return (head, leftover) }
      if outcome.1 {
        throw WebSocketException("the server closed the connection during the opening handshake")
      }
    }
  }
}
