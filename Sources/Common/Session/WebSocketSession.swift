/// A session as a scope (the `CoroutineScope` side of Ktor's `WebSocketSession`): whether it is active and its
/// close reason as Ktor's `Deferred<CloseReason?>`, readable without waiting. ``WebSocketSession`` refines it.
public protocol WebSocketSessionScope: AnyObject, Sendable {
  /// The engine under the session.
  var connection: WebSocketConnection { get }
}

extension WebSocketSessionScope {
  /// Whether the session has not ended (Ktor's `isActive`).
  public var isActive: Bool { connection.isActive }

  /// The close reason as Ktor's `Deferred<CloseReason?>`: `closeReason.isActive` while the session is open,
  /// `await closeReason.await()` for the reason. Where a reason is expected, `await session.closeReason` is the
  /// reason itself (``WebSocketSession/closeReason-swift.property``).
  public var closeReason: CloseReasonDeferred { CloseReasonDeferred(connection: connection) }
}

/// A WebSocket session: incoming frames, sending, closing (Ktor's `WebSocketSession`). The default sessions
/// deliver whole messages and answer pings; the raw ones deliver every frame as it arrives.
public protocol WebSocketSession: WebSocketSessionScope {
  /// The engine under the session.
  var connection: WebSocketConnection { get }
}

/// A session that delivers whole messages and answers pings, with the plugin's converter (Ktor's
/// `DefaultWebSocketSession`): the client's ``DefaultClientWebSocketSession`` and the server's
/// ``DefaultWebSocketServerSession``.
public protocol DefaultWebSocketSession: ConverterWebSocketSession {
  /// The keepalive ping interval in force; `nil` for none (Ktor's `pingInterval`). Setting it applies at once.
  var pingInterval: Duration? { get set }
  /// How long a keepalive ping waits for its pong before the session closes with 1011 (Ktor's `timeout`, "a
  /// timeout to wait for pong reply to ping"). Setting it applies at once.
  var timeout: Duration { get set }
}

extension DefaultWebSocketSession {
  /// ``pingInterval`` in milliseconds, -1 for none (Ktor's `pingIntervalMillis`).
  public var pingIntervalMillis: Int64 {
    get { pingInterval.map { Int64($0 / .milliseconds(1)) } ?? -1 }
    set { pingInterval = newValue < 0 ? nil : .milliseconds(newValue) }
  }

  /// ``timeout`` in milliseconds (Ktor's `timeoutMillis`).
  public var timeoutMillis: Int64 {
    get { Int64(timeout / .milliseconds(1)) }
    set { timeout = .milliseconds(max(0, newValue)) }
  }
}

extension WebSocketSession {
  /// Incoming frames until the connection closes; iterating throws the error that failed the connection.
  public var incoming: IncomingFrames { IncomingFrames(connection: connection) }

  /// The extensions negotiated for this session (Ktor's `extensions`).
  public var extensions: [any WebSocketExtension] { connection.extensions }

  /// The outgoing side as a channel (Ktor's `outgoing`): `session.outgoing.send(.text("hi"))`.
  public var outgoing: OutgoingFrames { OutgoingFrames(connection: connection) }

  /// Sends a frame (a fragment when `fin` is false; later fragments of the same type go out as continuations).
  ///
  /// On the connection's event loop thread (the server's handlers, client tasks that prefer the loop) the frame is
  /// queued synchronously, without an executor switch.
  @inlinable
  public nonisolated(nonsending) func send(_ frame: Frame) async throws {
    // Inline here and in `OutgoingFrames.send`, not in a shared async helper: every async layer on this path adds
    // an executor check per message.
    switch try connection.sendOnExecutorThread(frame) {
    case false?: return
    case true?: try await connection.writeQueuedOutput()
    case nil: try await connection.send(frame)
    }
  }

  /// Sends a text message.
  @inlinable
  public nonisolated(nonsending) func send(_ text: String) async throws {
    try await send(Frame.text(text))
  }

  /// Sends a binary message.
  @inlinable
  public nonisolated(nonsending) func send(_ bytes: [UInt8]) async throws {
    try await send(Frame.binary(bytes))
  }

  /// Sends a ping and waits (at most `timeout`, default 10 s) for its pong; returns the round-trip time. Default
  /// sessions only: a raw session delivers the pong as a frame instead.
  @discardableResult
  public func ping(_ payload: [UInt8]? = nil, timeout: Duration = .seconds(10)) async throws -> Duration {
    try await connection.ping(payload, timeout: timeout)
  }

  /// Waits until every frame sent so far is written to the transport (Ktor's `flush`). Sends are written in
  /// batches at the end of the event loop's turn, or at once past 64 KiB queued. After the session ended it
  /// returns at once (Ktor: it "could be called at any time even after close").
  public func flush() async throws { try await connection.flush() }

  /// Closes with `reason` (default 1000), waits a bounded time for the peer's close, and returns the final reason.
  ///
  /// On a session that has ended it returns the close reason (Ktor's `close` does not fail there either).
  ///
  /// - Throws: ``ConnectionUsageError`` for a code that may not be sent (1006, 1015; RFC 6455 section 7.4.1).
  ///   1005 sends a close frame without a code.
  @discardableResult
  public func close(_ reason: CloseReason = CloseReason(.normal)) async throws -> CloseReason {
    try await connection.close(reason)
  }

  /// Closes because of `error`: 1001 (going away) for cancellation, else 1011 with the error's description (cut
  /// to 123 bytes), as Ktor's `closeExceptionally`. Does nothing when the session has ended already.
  public func closeExceptionally(_ error: any Error) async {
    if error is CancellationError {
      _ = try? await connection.close(CloseReason(.goingAway))
    } else {
      _ = try? await connection.close(CloseReason(.internalError, "\(error)"))
    }
  }

  /// Cancels the session (Ktor's `cancel()`): a waiting receive throws `CancellationError`, and the session closes
  /// with 1001 (going away) within the close timeout, so the peer sees a clean close rather than 1006.
  public func cancel() {
    let connection = connection
    Task { await connection.cancel() }
  }

  /// Changes settings of the running session and returns once they apply (Ktor lets a handler set
  /// `pingIntervalMillis`, `timeoutMillis`, `maxFrameSize` and `masking` on its session).
  public func updateSettings(_ change: @Sendable (inout WebSocketConnection.RuntimeSettings) -> Void) async {
    await connection.updateSettings(change)
  }

  /// The reason the session closed; waits until it has. (Without `await`, ``WebSocketSessionScope/closeReason``
  /// is Ktor's `Deferred` form.)
  public var closeReason: CloseReason {
    get async { await connection.closeReason }
  }

  /// Closes the connection at once, without a closing handshake (Ktor's `terminate()`); completes on its own.
  public func terminate() {
    let connection = connection
    Task { await connection.terminate() }
  }

  /// The negotiated extension of type `type` (Ktor's `extensionOrNull(WebSocketDeflateExtension)`), or `nil`
  /// when it was not negotiated.
  public func extensionOrNull<Extension: InstallableWebSocketExtension>(
    _ type: Extension.Type
  ) -> (any WebSocketExtension)? {
    extensions.first { $0.name == type.extensionName }
  }

  /// The negotiated extension of type `type` (Ktor's `extension(WebSocketDeflateExtension)`).
  ///
  /// - Throws: ``WebSocketException`` when it was not negotiated.
  public func `extension`<Extension: InstallableWebSocketExtension>(
    _ type: Extension.Type
  ) throws -> any WebSocketExtension {
    guard let found = extensionOrNull(type) else {
      throw WebSocketException("the extension \(type.extensionName) was not negotiated for this session")
    }
    return found
  }
}

/// The incoming frames of a session as an `AsyncSequence`.
public struct IncomingFrames: AsyncSequence, Sendable {
  /// The element type.
  public typealias Element = Frame
  let connection: WebSocketConnection

  /// The iterator: each `next()` waits for the next frame.
  public struct AsyncIterator: AsyncIteratorProtocol {
    @usableFromInline let connection: WebSocketConnection

    @usableFromInline init(connection: WebSocketConnection) {
      self.connection = connection
    }

    /// The next frame, or `nil` once the connection has closed normally.
    public mutating func next() async throws -> Frame? {
      try await connection.receive()
    }

    /// The next frame, for a caller with the given isolation (what `for try await` calls): taken without an
    /// executor switch when the caller runs on the connection's event loop.
    @inlinable
    public nonisolated(nonsending) mutating func next(isolation actor: (any Actor)?) async throws -> Frame? {
      if let frame = connection.takeQueuedFrameOnExecutorThread() { return frame }
      return try await connection.receive()
    }
  }

  /// Makes an iterator.
  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(connection: connection) }

  /// Takes a frame that has already arrived, without waiting for one (Ktor's `incoming.tryReceive()`): `nil` when
  /// none is queued, including once the session has closed (``receive()`` then reports the end). On the
  /// connection's event loop thread it returns without suspending; elsewhere it hops to the connection once.
  ///
  /// A loop that drains what one read delivered before it waits again, doing per-batch work once (reading a clock,
  /// flushing its own output), uses it as `if let frame = await incoming.tryReceive() { ... } else { ... receive()
  /// ... }`.
  public nonisolated(nonsending) func tryReceive() async -> Frame? {
    if let frame = connection.takeQueuedFrameOnExecutorThread() { return frame }
    if connection.transport.isExecutorThread { return nil }
    return await connection.takeQueuedFrame()
  }

  /// Runs `body` for every frame until the session closes (Ktor's `incoming.consumeEach { frame -> }`, the
  /// channel's stream-like use); returns when the session closed normally, throws the failure's error otherwise.
  public nonisolated(nonsending) func consumeEach(_ body: (Frame) async throws -> Void) async throws {
    var iterator = makeAsyncIterator()
    while let frame = try await iterator.next(isolation: #isolation) { try await body(frame) }
  }

  /// Receives one frame (Ktor's `incoming.receive()`).
  ///
  /// - Throws: ``ClosedReceiveChannelException`` once the session has closed normally and no frame is left; the
  ///   failure's own error when it failed (a protocol violation, a ping timeout, a transport error).
  public nonisolated(nonsending) func receive() async throws -> Frame {
    if let frame = connection.takeQueuedFrameOnExecutorThread() { return frame }
    guard let frame = try await connection.receive() else {
      throw ClosedReceiveChannelException(closeReason: await connection.closeReason)
    }
    return frame
  }
}

/// The outgoing side of a session (Ktor's `outgoing: SendChannel<Frame>`). Its capacity is 64 KiB of encoded frames
/// plus the transport's 256 KiB beyond the socket's buffer: past it, a send waits for the socket, so a slow peer
/// slows the sender.
public struct OutgoingFrames: Sendable {
  @usableFromInline let connection: WebSocketConnection

  /// Sends `frame` (Ktor's `outgoing.send(frame)`); on the connection's event loop thread without an executor
  /// switch, as the session's `send`.
  ///
  /// - Throws: ``ConnectionUsageError`` after the session closed, or the transport's error.
  @inlinable
  public nonisolated(nonsending) func send(_ frame: Frame) async throws {
    // Inline, as in the session's `send(_:)`.
    switch try connection.sendOnExecutorThread(frame) {
    case false?: return
    case true?: try await connection.writeQueuedOutput()
    case nil: try await connection.send(frame)
    }
  }

  /// Ends the outgoing side (Ktor's `outgoing.close()`): starts the closing handshake with 1000; does nothing when
  /// the session has ended already.
  public func close() async {
    _ = try? await connection.close(CloseReason(.normal))
  }
}
