import WispCommon

/// A request that arrived on an HTTP/2 stream, as the application server's handshake sees it (RFC 8441): the
/// request is the stream's HEADERS, a refusal or a plain answer is the stream's response (then its end), and a
/// WebSocket is accepted with a 200 whose stream then carries the frames.
struct HTTP2StreamExchange: ServerExchange {
  let stream: HTTP2Stream

  var transport: any Transport { stream }

  var form: ServerHandshake.RequestForm { .http2(connectProtocol: stream.headerBlock.connectProtocol) }

  /// The request nghttp2 decoded; 431 when its fields went past the limits.
  func readRequest(limits: HTTPHeadParser.Limits) async throws -> (HTTPRequestHead, [UInt8])? {
    if let exceeded = stream.headerBlock.exceeded { throw exceeded }
    return (stream.headerBlock.requestHead, [])
  }

  func respond(_ response: ServerResponse, includeBody: Bool) async {
    await onLoop {
      stream.connection.respond(
        stream, status: response.status, headers: response.headers, body: includeBody ? response.body : [])
    }
  }

  func accept(_ head: HTTPResponseHead) async throws {
    try await onLoop { () throws(TransportError) in
      try stream.connection.accept(stream, status: head.status, headers: head.headers)
    }
  }

  func abandon() async {
    await onLoop { stream.connection.cancel(stream) }
  }

  /// Runs `body` on the connection's loop (the handshake's task normally runs there already).
  private func onLoop<Result, Failure: Error>(
    _ body: () throws(Failure) -> Result
  ) async throws(Failure) -> Result {
    let loop = stream.connection.loop
    if loop.inEventLoop { return try body() }
    return try await withTaskExecutorPreference(loop) { () async throws(Failure) -> Result in
      try await Self.hop(body)
    }
  }

  @concurrent private static func hop<Result, Failure: Error>(
    _ body: () throws(Failure) -> Result
  ) async throws(Failure) -> Result {
    try body()
  }
}
