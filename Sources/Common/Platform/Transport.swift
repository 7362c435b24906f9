/// A reliable, ordered, bidirectional byte stream: a TCP or Unix socket, TLS over one of those, the test host's
/// in-memory pipe, or whatever a platform adds. Sessions run their protocol over it and never know which it is.
///
/// One contract, push-driven, for every transport a session runs on (docs/decisions/0023):
/// - **Reading** is pushed: ``startReading(_:directReader:)`` installs a handler that the transport calls on its
///   executor with what arrives, in a buffer valid only during the call, until the handler returns `false`
///   (``resumeReading()`` goes on). A socket calls it from the event loop's readable edge; TLS calls it with the
///   plaintext it decrypted from what the socket pushed; the in-memory pipe with what the other end wrote.
/// - **Writing** is pulled: ``setWriteSource(_:)`` installs the session's source of bytes, and ``requestWrite()``
///   has the transport call it at the end of the executor's turn (the event loop's), so that the answers of a turn
///   go out in one batch without a task per batch.
/// - ``write(_:)``, ``flush()`` and ``waitForQueuedOutput(below:)`` remain for a writer that must wait for the peer
///   (a large message past the transport's high-water mark, ``flush()``), and ``read(_:)`` for the code that runs
///   before a session exists: the opening handshake, a proxy's CONNECT, a Redis link.
///
/// A transport is confined to one serial executor (``executor``): call it only from code running there. Sessions
/// run their actor on that executor, so the bytes go from the socket to the session without a thread hop. The
/// methods are `nonisolated(nonsending)`: they run on the caller's executor, which must be the transport's. At most
/// one read and one write may be in progress at a time (sessions serialize their writes).
public protocol Transport: AnyObject, Sendable {
  /// The executor the transport must be used from; sessions adopt it as their actor's executor.
  var executor: UnownedSerialExecutor { get }

  /// The executor that tasks serving this transport should prefer (the event loop), so that a task resumed after
  /// waiting for the transport continues there without passing through the global pool; `nil` when the transport
  /// has none.
  var taskExecutor: (any TaskExecutor)? { get }

  /// Whether the calling thread is the one the transport's executor runs its jobs on (the event loop's), so that
  /// code there may use the session's state without a hop; `false` when the transport cannot tell.
  var isExecutorThread: Bool { get }

  /// The clock whose timers sessions on this transport should use (the event loop's timer heap), or `nil` for the
  /// default ``SystemSessionClock``.
  var sessionClock: (any SessionClock)? { get }

  /// The certificate the TLS peer presented and the transport verified; `nil` without TLS or without one.
  var peerCertificate: PeerCertificate? { get }

  /// The peer's address, for logs (`"127.0.0.1:8080"`, `"[::1]:443"`, `"unix:/tmp/ws.sock"`).
  var peerDescription: String { get }

  /// Waits until bytes arrive and hands them to `body`, in a buffer that is valid only during the call (it is the
  /// event loop's read buffer, shared by every connection of the loop: `body` must copy what it keeps). An empty
  /// buffer means the peer closed its side (EOF). For the code that runs before a session (the opening handshake,
  /// a tunnel); a session reads with ``startReading(_:directReader:)``, and never both at once.
  nonisolated(nonsending) func read<Result>(
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result

  /// Writes `bytes` after the bytes of earlier writes. A transport may queue them and write a batch at once (the
  /// Linux sockets write at the end of the event loop's turn); it waits when its queue is full, so a slow peer
  /// slows the writer. ``flush()`` waits until everything is written.
  nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws

  /// Waits until every byte written so far has been handed to the operating system (or the peer, in memory).
  nonisolated(nonsending) func flush() async throws

  /// Starts calling `handler` on the transport's executor with what arrives, until it returns `false` (reading
  /// pauses until ``resumeReading()``), or after ``TransportReadEvent/endOfStream`` or
  /// ``TransportReadEvent/failed(_:)``, or until the transport closes (which drops the handler). Call it once, from
  /// the transport's executor, after any ``read(_:)`` of the handshake; the first bytes may be delivered on a later
  /// turn of the executor, never inside this call.
  ///
  /// `directReader`, when given, is asked before each read whether the bytes should go straight into storage of the
  /// caller's (a large payload still arriving) instead of the transport's buffer: it returns `nil` to decline, or
  /// calls the transport's `read` function once with its destination and returns what `read` returned (the bytes
  /// read; 0 or less for end of stream or an error, which the transport then reports to `handler`). After a direct
  /// read of some bytes the transport calls `handler` with an empty ``TransportReadEvent/bytes(_:)``, so that the
  /// caller can act on what it received. A transport that cannot read into foreign storage (TLS decrypts into its
  /// own buffer) ignores it.
  func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  )

  /// Resumes calling the handler after it returned `false`. What is already buffered is delivered on a later turn
  /// of the executor (never inside this call, so the caller may hold state the handler touches). From the executor
  /// only.
  func resumeReading()

  /// Installs the pull side of writing: after ``requestWrite()``, at the end of the executor's turn (and again when
  /// the peer can take more), the transport calls `source` for the bytes to write, one piece per call, in order,
  /// until it returns `nil`. Call once, from the transport's executor; closing the transport drops the source.
  func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?)

  /// Asks the transport to call the write source at the end of this turn of its executor. From the executor only.
  func requestWrite()

  /// Bytes accepted by ``write(_:)`` or pulled from the write source that the operating
  /// system has not taken yet; 0 when the transport keeps none (its writes wait instead). Fan-out reads it so that a
  /// subscriber whose socket is full keeps its messages in its own bounded queue, where its policy applies.
  var queuedOutputCount: Int { get }

  /// Writes queued bytes, waiting for the peer as needed, until fewer than `limit` are queued. Only the session's
  /// one writer calls it (like ``write(_:)``).
  nonisolated(nonsending) func waitForQueuedOutput(below limit: Int) async throws

  /// Closes the sending direction (TCP half-close; TLS sends close_notify first). Reading continues.
  nonisolated(nonsending) func shutdownOutput() async throws

  /// Closes both directions and releases the descriptor. Wakes any pending read or write with
  /// ``TransportError/closed``. Safe to call more than once and from any task.
  func close() async
}

/// Where to connect or listen.
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
  /// A host name or IP literal and a TCP port.
  case host(String, port: Int)
  /// A Unix domain socket path.
  case unix(path: String)

  /// `"example.com:443"` or `"unix:/path"`.
  public var description: String {
    switch self {
    case .host(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    case .unix(let path): "unix:\(path)"
    }
  }
}

extension Transport {
  /// No preferred task executor.
  public var taskExecutor: (any TaskExecutor)? { nil }

  /// Cannot tell: sessions always switch to the executor.
  public var isExecutorThread: Bool { false }

  /// No clock of its own: sessions use ``SystemSessionClock``.
  public var sessionClock: (any SessionClock)? { nil }

  /// Keeps nothing queued: its writes wait.
  public var queuedOutputCount: Int { 0 }

  /// Waits for ``flush()``.
  public nonisolated(nonsending) func waitForQueuedOutput(below limit: Int) async throws {
    try await flush()
  }

  /// No certificate (not TLS, or the peer presented none).
  public var peerCertificate: PeerCertificate? { nil }
}

/// A transport with an abortive end besides ``Transport/close()``: an HTTP/2 stream resets itself (RST_STREAM CANCEL,
/// as RFC 8441's streams end when a session fails) once its queued output is out, instead of ending with END_STREAM
/// and waiting for the peer's. A session whose end is a failure calls it instead of `close()`.
package protocol AbortableTransport: Transport {
  /// Sends what is queued, then ends both directions abortively; like ``Transport/close()`` otherwise.
  func abort() async
}

/// A transport that can hand its handler, at once, what has arrived but not been read (a socket's kernel buffer):
/// before a keepalive ping times out, the session reads what is there, so that a loop that fell behind (a machine
/// saturated by a million sessions' handshakes) does not close with 1011 a peer whose pong it has not read yet.
package protocol CatchingUpTransport: Transport {
  /// Delivers what has arrived to the ``Transport/startReading(_:directReader:)`` handler now, as a readable edge
  /// would; nothing when reading is paused, not started or over. On the transport's executor thread only.
  func deliverWhatHasArrived()
}

/// A transport whose executor keeps spare payload buffers for the sessions on it (the event loop's): an engine
/// detail, so not part of the public ``Transport`` contract. A session asks for it once, when it is created.
package protocol PayloadPoolProviding: Transport {
  /// Spare payload buffers shared by the sessions on this transport's executor, or `nil` for none (every payload is
  /// allocated). Only code running on ``Transport/executor`` may use it.
  var payloadPool: PayloadBufferPool? { get }
}
