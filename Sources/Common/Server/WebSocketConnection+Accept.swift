extension WebSocketConnection {
  /// The server side of the opening handshake over a freshly accepted transport: reads the request (bounded in
  /// size and time), validates it (RFC 6455 section 4.2.1), answers 101 (or the refusal: 400, 405, 426 with
  /// `Sec-WebSocket-Version: 13`) and returns the connection with the request.
  ///
  /// - Parameters:
  ///   - transport: the accepted connection.
  ///   - configuration: the state machine's limits (role `.server`).
  ///   - options: the session's queue, close timeout and pings.
  ///   - limits: the bounds on the request's head (size, field count).
  ///   - selectSubprotocol: picks one of the client's offered subprotocols, or `nil` for none.
  ///   - timeout: the time a client has to send its whole request (slow clients are dropped). Default 10 s.
  /// - Throws: `ServerHandshake.Rejection` after answering a bad request, ``HandshakeError`` for a malformed or
  ///   oversized head, ``TransportError`` for I/O and the timeout.
  package static func accept(
    over transport: any Transport, configuration: ConnectionStateMachine.Configuration, options: Options = Options(),
    limits: HTTPHeadParser.Limits = HTTPHeadParser.Limits(), timeout: Duration = .seconds(10),
    selectSubprotocol: @Sendable ([String]) -> String? = { _ in nil }
  ) async throws -> (WebSocketConnection, ServerHandshake.Upgrade) {
    let runner = OpeningHandshakeRunner(transport: transport)
    do {
      return try await withTransportDeadline(
        transport, timeout: timeout, operation: "waiting for the opening handshake"
      ) {
        guard let (request, leftover) = try await runner.readRequest(limits: limits) else {
          throw TransportError.connectionReset
        }
        let upgrade: ServerHandshake.Upgrade
        do throws(ServerHandshake.Rejection) {
          upgrade = try ServerHandshake.validate(request)
        } catch {
          try? await runner.write(error.serialized())
          throw error
        }
        let chosen = selectSubprotocol(upgrade.subprotocols)
        try await runner.write(ServerHandshake.response(accepting: upgrade, subprotocol: chosen).serialized())
        let connection = WebSocketConnection(
          transport: transport, configuration: configuration, options: options, leftover: leftover)
        return (connection, upgrade)
      }
    } catch {
      await transport.close()
      throw error
    }
  }
}
