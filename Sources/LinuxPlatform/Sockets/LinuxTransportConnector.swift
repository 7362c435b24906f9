import WispCommon

/// The Linux ``TransportConnector``: a socket on the next loop of a group, wrapped in TLS when asked.
public struct LinuxTransportConnector: TransportConnector {
  /// The loops that serve the connections.
  public let group: EventLoopGroup

  /// Creates a connector on `group` (default: the process-wide group).
  public init(group: EventLoopGroup = .shared) {
    self.group = group
  }

  /// Connects, then runs the TLS handshake on the same loop when `tls` is set.
  public func connect(
    to endpoint: Endpoint, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport {
    let loop = group.next()
    let socket = try await SocketConnector.connect(to: endpoint, on: loop, timeout: timeout)
    guard let tls else { return socket }
    return try await withTaskExecutorPreference(loop) {
      try await Self.secure(socket, tls: tls, host: host)
    }
  }

  /// The TLS handshake; `@concurrent` so that it runs on the loop (the task's preference), never on a caller's
  /// actor such as the main actor.
  @concurrent private static func secure(
    _ socket: SocketTransport, tls: TLSClientConfiguration, host: String
  ) async throws -> TLSTransport {
    do {
      let context = try TLSContext(.client(tls))
      return try await TLSTransport.connect(over: socket, host: host, context: context)
    } catch {
      await socket.close()
      throw error
    }
  }
}
