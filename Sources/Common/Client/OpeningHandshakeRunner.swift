/// Runs the opening handshake on the transport's executor: as a client, writes the request and reads the response
/// head; as a server, reads the request head and answers it. Keeps the bytes that arrived behind the head.
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

  /// Reads a request head (bounded by `limits`); `nil` when the client closed before sending one.
  func readRequest(limits: HTTPHeadParser.Limits) async throws -> (HTTPRequestHead, [UInt8])? {
    var parser = HTTPHeadParser(limits: limits)
    while true {
      var leftover: [UInt8] = []
      let outcome = try await transport.read { bytes -> (HTTPRequestHead?, Bool) in
        if bytes.isEmpty { return (nil, true) }
        var offset = 0
        let head = try parser.parseRequest(bytes, offset: &offset)
        if head != nil { leftover = Array(bytes[offset...]) }
        return (head, false)
      }
      if let head = outcome.0 { return (head, leftover) }
      if outcome.1 { return nil }
    }
  }

  /// Writes `bytes` (a 101 response, or a refusal).
  func write(_ bytes: [UInt8]) async throws {
    try await transport.write(bytes)
  }
}
