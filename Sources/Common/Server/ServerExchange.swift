/// One request's way into the server and its answer's way out: an HTTP/1.1 connection (the request head read from
/// the transport, the answer written to it, a 101 before the WebSocket) or an HTTP/2 stream (RFC 8441: the request
/// is the stream's HEADERS, the answer its response HEADERS, a 200 before the WebSocket). `ApplicationServer` routes,
/// admits and answers through it, so that both protocols share one handshake.
package protocol ServerExchange: Sendable {
  /// The transport a WebSocket accepted on this exchange runs on: the connection, or the stream.
  var transport: any Transport { get }

  /// How the request arrived (the form its validation follows).
  var form: ServerHandshake.RequestForm { get }

  /// The request, bounded by `limits`, with the bytes that arrived behind its head; `nil` when the peer left before
  /// sending one.
  func readRequest(limits: HTTPHeadParser.Limits) async throws -> (HTTPRequestHead, [UInt8])?

  /// Sends `response` (its body unless `includeBody` is false, for HEAD) and ends the exchange: HTTP/1.1 closes the
  /// connection after it, HTTP/2 ends the stream. Best effort: a peer that left is not an error here.
  func respond(_ response: ServerResponse, includeBody: Bool) async

  /// Sends the head that accepts the WebSocket (a 101, or a 200 on HTTP/2); the transport then carries frames.
  func accept(_ head: HTTPResponseHead) async throws

  /// Ends the exchange without an answer (the peer left or broke the request).
  func abandon() async
}

/// The HTTP/1.1 exchange: the opening handshake's reads and writes on the connection's transport.
struct HTTP1Exchange: ServerExchange {
  let runner: OpeningHandshakeRunner
  /// Bytes of the request read before the exchange began.
  let prefix: [UInt8]

  init(transport: any Transport, prefix: [UInt8] = []) {
    runner = OpeningHandshakeRunner(transport: transport)
    self.prefix = prefix
  }

  var transport: any Transport { runner.transport }

  var form: ServerHandshake.RequestForm { .http1 }

  func readRequest(limits: HTTPHeadParser.Limits) async throws -> (HTTPRequestHead, [UInt8])? {
    try await runner.readRequest(limits: limits, prefix: prefix)
  }

  func respond(_ response: ServerResponse, includeBody: Bool) async {
    try? await runner.write(response.serialized(includeBody: includeBody))
    await runner.finish()
  }

  func accept(_ head: HTTPResponseHead) async throws {
    try await runner.write(head.serialized())
  }

  func abandon() async {
    await transport.close()
  }
}
