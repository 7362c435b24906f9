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
    guard let result = try await readHead({ try parser.parseResponse($0, offset: &$1) }) else {
      throw WebSocketException("the server closed the connection during the opening handshake")
    }
    return result
  }

  /// Reads a request head (bounded by `limits`), after the bytes of `prefix` (read before); `nil` when the client
  /// closed before sending one.
  func readRequest(limits: HTTPHeadParser.Limits, prefix: [UInt8] = []) async throws -> (HTTPRequestHead, [UInt8])? {
    var parser = HTTPHeadParser(limits: limits)
    if !prefix.isEmpty {
      var offset = 0
      if let head = try prefix.withUnsafeBytes({ try parser.parseRequest($0, offset: &offset) }) {
        return (head, Array(prefix[offset...]))
      }
    }
    return try await readHead { try parser.parseRequest($0, offset: &$1) }
  }

  /// Reads until `parse` returns a head; returns it with the bytes behind it, or `nil` at EOF before a head.
  private func readHead<Head>(
    _ parse: (UnsafeRawBufferPointer, inout Int) throws -> Head?
  ) async throws -> (Head, [UInt8])? {
    while true {
      var leftover: [UInt8] = []
      let (head, eof) = try await transport.read { bytes -> (Head?, Bool) in
        if bytes.isEmpty { return (nil, true) }
        var offset = 0
        let head = try parse(bytes, &offset)
        if head != nil { leftover = Array(bytes[offset...]) }
        return (head, false)
      }
      if let head { return (head, leftover) }
      if eof { return nil }
    }
  }

  /// Half-closes, then closes: the peer reads the whole answer (a refusal, a plain response) before EOF.
  func finish() async {
    try? await transport.shutdownOutput()
    await transport.close()
  }

  /// Writes `bytes` (a 101 response, or a refusal).
  func write(_ bytes: [UInt8]) async throws {
    try await transport.write(bytes)
  }
}
