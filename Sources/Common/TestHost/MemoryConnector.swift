import Synchronization

/// Opens in-memory connections to an ``ApplicationServer``: each `connect` makes a ``MemoryTransport`` pair and
/// serves the server's end in a task of its own.
final class MemoryConnector: TransportConnector, Sendable {
  /// The server each connection is served by, asked at each connect (the test builder starts its server at the
  /// first connection).
  private let server: @Sendable () throws -> ApplicationServer
  private let tasks = Mutex<[Task<Void, Never>]>([])

  init(server: ApplicationServer) {
    self.server = { server }
  }

  init(server: @escaping @Sendable () throws -> ApplicationServer) {
    self.server = server
  }

  func connect(
    to endpoint: Endpoint, tls: TLSClientConfiguration?, host: String, timeout: Duration
  ) async throws -> any Transport {
    let (client, serverEnd) = MemoryTransport.pair()
    let server = try self.server()
    // The handshake in one task, the session in another, as the socket server runs them: a task keeps the memory
    // of its deepest async stack (the handshake's) for its whole life.
    let task = Task { [self] in
      guard let session = await server.handshake(serverEnd) else { return }
      let run = Task { await server.run(session) }
      tasks.withLock { $0.append(run) }
    }
    tasks.withLock { $0.append(task) }
    return client
  }

  /// Waits until every connection opened so far has been served to its end.
  func waitForConnections() async {
    // A handshake's task adds its session's task before it ends: wait until a round finds nothing new.
    while true {
      let pending = tasks.withLock { tasks in
        defer { tasks.removeAll() }
        return tasks
      }
      if pending.isEmpty { return }
      for task in pending { await task.value }
    }
  }
}
