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
    let task = Task { await server.serve(serverEnd) }
    tasks.withLock { $0.append(task) }
    return client
  }

  /// Waits until every connection opened so far has been served to its end.
  func waitForConnections() async {
    let pending = tasks.withLock { tasks in
      defer { tasks.removeAll() }
      return tasks
    }
    for task in pending { await task.value }
  }
}
