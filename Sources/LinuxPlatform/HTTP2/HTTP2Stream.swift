import WispCommon

/// One HTTP/2 stream that carries a WebSocket (RFC 8441): a ``Transport`` like a socket, so that the session, the
/// extensions, fan-out and the handler do not know that they run on a stream.
///
/// Its bytes are the stream's DATA. What arrives is handed to the session's handler in place, in the carrier's
/// buffer, as a socket's reads are; what the handler cannot take yet (it paused) waits here, and the stream's
/// flow-control window is opened only for what the session took (`nghttp2_session_consume_stream`): a handler that
/// does not read stops its peer after one window, and nothing grows without bound. What the session writes waits in
/// ``pending`` until nghttp2 frames it, as far as the peer's window allows; ``queuedOutputCount`` is that amount, so
/// that backpressure and fan-out see a stream whose window is closed as they see a full socket.
///
/// Confined to the connection's event loop, like the connection.
package final class HTTP2Stream: Transport, PayloadPoolProviding, @unchecked Sendable {
  /// The connection the stream belongs to.
  let connection: HTTP2Connection
  /// The stream's identifier.
  let id: Int32
  /// The peer's HEADERS: the request on a server, the response on a client.
  var headerBlock = HTTP2HeaderBlock()
  /// A client waiting for the response to its extended CONNECT.
  private var responseWaiter: CheckedContinuation<HTTPResponseHead, any Error>?
  /// Why the response will not come, when it failed before anyone waited.
  private var responseFailure: (any Error)?
  private var responseReady = false

  // Inbound
  /// DATA that arrived while the handler was paused or not yet installed, from `inboundOffset`.
  private var inbound: [UInt8] = []
  private var inboundOffset = 0
  /// How the peer's side ended (END_STREAM, a reset), delivered after ``inbound``.
  private var ending: TransportReadEvent?
  private var readHandler: (@Sendable (TransportReadEvent) -> Bool)?
  private var readingPaused = false
  private var deliveryScheduled = false
  /// A ``read(_:)`` waiting for DATA.
  private var readWaiter: CheckedContinuation<Void, Never>?

  // Outbound
  /// Bytes written and not yet framed, from `pendingHead` (its first `pendingOffset` bytes framed).
  private var pending: [[UInt8]] = []
  private var pendingHead = 0
  private var pendingOffset = 0
  private(set) var pendingCount = 0
  private var writeSource: (@Sendable () -> [UInt8]?)?
  /// Whether the stream is in the connection's list for its next output turn (listed once).
  var awaitsOutputTurn = false
  /// Whether the write source should be asked at the connection's next output.
  private(set) var wantsPull = false
  /// Whether the response's data provider is installed (the stream was accepted or answered with a body).
  var providesData = false
  /// Whether nghttp2 was told to wait (`NGHTTP2_ERR_DEFERRED`) and must be resumed when bytes are queued.
  var dataDeferred = false
  /// Whether the output ends after ``pending`` (END_STREAM).
  private(set) var outputEnded = false
  /// Whether END_STREAM has gone out.
  var endSent = false
  /// Whether the stream is to be reset once END_STREAM is out and the peer's side is still open: with NO_ERROR after
  /// a response sent before the request ended (RFC 9113 section 8.1), with CANCEL after a session that failed.
  var resetAfterEnd = false
  /// The code of that reset.
  var resetAfterEndCancels = false
  /// A writer waiting until fewer than `limit` bytes are pending.
  private var writeWaiter: (limit: Int, continuation: CheckedContinuation<Void, any Error>)?
  /// Whether the stream is closed (both sides ended, reset, or the connection ended).
  private(set) var isClosed = false
  /// Why the stream closed, for writers.
  private var closeError: TransportError = .closed
  /// Whether the session closed this transport (``close()``).
  private var released = false

  init(connection: HTTP2Connection, id: Int32) {
    self.connection = connection
    self.id = id
  }

  // MARK: A client's response

  /// The response's HEADERS are complete.
  func responseArrived() {
    responseReady = true
    if let waiter = responseWaiter {
      responseWaiter = nil
      waiter.resume(returning: headerBlock.responseHead)
    }
  }

  /// The response will not come (a reset, the connection's end, the time limit).
  func responseFailed(_ error: any Error) {
    guard !responseReady, responseFailure == nil else { return }
    responseFailure = error
    if let waiter = responseWaiter {
      responseWaiter = nil
      waiter.resume(throwing: error)
    }
  }

  /// Waits for the response to the stream's request.
  func waitForResponse() async throws -> HTTPResponseHead {
    if responseReady { return headerBlock.responseHead }
    if let responseFailure { throw responseFailure }
    if let exceeded = headerBlock.exceeded { throw exceeded }
    return try await withCheckedThrowingContinuation { responseWaiter = $0 }
  }

  // MARK: What the connection calls

  /// DATA for this stream, in the carrier's buffer. Returns the bytes the session took now (the window to open).
  func received(_ bytes: UnsafeRawBufferPointer) -> Int {
    if let handler = readHandler, !readingPaused, inboundOffset == inbound.count, !deliveryScheduled {
      if !handler(.bytes(bytes)) { readingPaused = true }
      return bytes.count
    }
    if inboundOffset == inbound.count {
      inbound.removeAll(keepingCapacity: true)
      inboundOffset = 0
    }
    inbound.append(contentsOf: bytes)
    resumeWaitingReader()
    return 0
  }

  /// The peer ended its side: `.endOfStream` for END_STREAM, `.failed` for a reset or the connection's end.
  func remoteEnded(_ event: TransportReadEvent) {
    guard ending == nil else { return }
    ending = event
    resumeWaitingReader()
    if readHandler != nil, !readingPaused { scheduleDelivery() }
  }

  /// The stream is gone (nghttp2 closed it): writers fail, the reader learns the end.
  func streamClosed(reset: Bool) {
    responseFailed(TransportError.connectionReset)
    if ending == nil { remoteEnded(reset ? .failed(TransportError.connectionReset) : .endOfStream) }
    isClosed = true
    closeError = reset ? .connectionReset : .closed
    writeSource = nil
    wantsPull = false
    if let waiter = writeWaiter {
      writeWaiter = nil
      waiter.continuation.resume(throwing: closeError)
    }
  }

  /// Moves what the session's write source holds into ``pending`` (the connection's output turn).
  func pullSource() {
    wantsPull = false
    guard let writeSource, !isClosed, !outputEnded else { return }
    while let bytes = writeSource() {
      if !bytes.isEmpty { enqueue(bytes) }
    }
  }

  /// nghttp2's data provider: up to `length` pending bytes into `buffer`; sets `eof` when the output has ended.
  /// Returns the count, or `nil` when nothing is pending yet (the provider defers).
  func provide(into buffer: UnsafeMutablePointer<UInt8>, length: Int, eof: inout Bool) -> Int? {
    if pendingCount == 0 {
      if outputEnded {
        eof = true
        return 0
      }
      dataDeferred = true
      return nil
    }
    var copied = 0
    while copied < length, pendingHead < pending.count {
      let chunk = pending[pendingHead]
      let count = min(chunk.count - pendingOffset, length - copied)
      chunk.withUnsafeBytes { source in
        (buffer + copied).update(
          from: source.baseAddress!.advanced(by: pendingOffset).assumingMemoryBound(to: UInt8.self), count: count)
      }
      copied += count
      pendingOffset += count
      if pendingOffset == chunk.count {
        pendingHead += 1
        pendingOffset = 0
      }
    }
    pendingCount -= copied
    if pendingHead == pending.count {
      pending.removeAll(keepingCapacity: pending.count <= 16)
      pendingHead = 0
    } else if pendingHead >= 64 {
      pending.removeFirst(pendingHead)
      pendingHead = 0
    }
    eof = pendingCount == 0 && outputEnded
    if let waiter = writeWaiter, pendingCount < waiter.limit {
      writeWaiter = nil
      waiter.continuation.resume()
    }
    return copied
  }

  /// Ends the output after what is pending (END_STREAM), as the answer to a request that needs no more.
  func endOutput() {
    guard !outputEnded else { return }
    outputEnded = true
    connection.outputReady(self)
  }

  /// Queues a plain answer's body, the stream's last bytes.
  func queueFinal(_ body: [UInt8]) {
    enqueue(body)
    outputEnded = true
  }

  private func enqueue(_ bytes: [UInt8]) {
    pending.append(bytes)
    pendingCount += bytes.count
  }

  // MARK: Transport

  /// The connection's loop.
  package var executor: UnownedSerialExecutor { connection.loop.asUnownedSerialExecutor() }

  /// The connection's loop.
  package var taskExecutor: (any TaskExecutor)? { connection.loop }

  /// Whether the caller runs on the loop's thread.
  package var isExecutorThread: Bool { connection.loop.inEventLoop }

  /// The loop's timers.
  package var sessionClock: (any SessionClock)? { connection.loop }

  /// The loop's spare payload buffers.
  package var payloadPool: PayloadBufferPool? { connection.loop.payloadPool }

  /// The TLS client's certificate, when the connection runs over TLS and the client presented one.
  package var peerCertificate: PeerCertificate? { connection.carrier.peerCertificate }

  /// The connection's peer and the stream (`"127.0.0.1:5000 (TLS) h2 stream 3"`).
  package var peerDescription: String { "\(connection.carrier.peerDescription) h2 stream \(id)" }

  /// Hands over the DATA that arrived (waiting for some when none has); an empty buffer at the end of the peer's
  /// side.
  package nonisolated(nonsending) func read<Result>(
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result {
    while true {
      if inboundOffset < inbound.count {
        let count = inbound.count - inboundOffset
        let result = try inbound.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[inboundOffset...])) }
        inboundOffset = inbound.count
        connection.consumed(count, on: self)
        return result
      }
      if released { throw TransportError.closed }
      switch ending {
      case .failed(let error)?: throw error
      case .endOfStream?, .bytes?: return try body(UnsafeRawBufferPointer(start: nil, count: 0))
      case nil: break
      }
      await withCheckedContinuation { readWaiter = $0 }
    }
  }

  private func resumeWaitingReader() {
    if let waiter = readWaiter {
      readWaiter = nil
      waiter.resume()
    }
  }

  /// Queues `bytes` for DATA frames; waits while more than the connection's high-water mark is pending (the
  /// peer's window is closed).
  package nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
    guard !isClosed, !outputEnded else { throw closeError }
    enqueue(bytes)
    connection.outputReady(self)
    if pendingCount > SocketTransport.writeHighWater {
      try await waitForQueuedOutput(below: SocketTransport.writeHighWater)
    }
  }

  /// Waits until every byte written has been framed for the connection.
  package nonisolated(nonsending) func flush() async throws {
    try await waitForQueuedOutput(below: 1)
  }

  /// Bytes written and not yet framed (the peer's window may hold them back).
  package var queuedOutputCount: Int { pendingCount }

  /// Waits until fewer than `limit` bytes are pending.
  package nonisolated(nonsending) func waitForQueuedOutput(below limit: Int) async throws {
    while pendingCount >= limit {
      guard !isClosed else { throw closeError }
      connection.outputReady(self)
      try await withCheckedThrowingContinuation { writeWaiter = (limit, $0) }
    }
  }

  /// Pushes DATA to `handler` as it arrives. `directReader` is ignored: DATA arrives inside HTTP/2 frames.
  package func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  ) {
    connection.loop.preconditionInEventLoop()
    readHandler = handler
    readingPaused = false
    scheduleDelivery()
  }

  /// Goes on after the handler returned `false`: what waits here first, on a later turn.
  package func resumeReading() {
    connection.loop.preconditionInEventLoop()
    guard readingPaused else { return }
    readingPaused = false
    scheduleDelivery()
  }

  private func scheduleDelivery() {
    guard !deliveryScheduled else { return }
    deliveryScheduled = true
    connection.loop.execute { [self] in
      deliveryScheduled = false
      deliverInbound()
    }
  }

  /// Hands what waits here to the handler until it pauses, then the end if the peer's side ended.
  private func deliverInbound() {
    guard let handler = readHandler else { return }
    var taken = 0
    while !readingPaused, inboundOffset < inbound.count {
      let start = inboundOffset
      inboundOffset = inbound.count
      taken += inbound.count - start
      let keepReading = inbound.withUnsafeBytes { handler(.bytes(UnsafeRawBufferPointer(rebasing: $0[start...]))) }
      if !keepReading { readingPaused = true }
    }
    if inboundOffset == inbound.count {
      inbound = []
      inboundOffset = 0
    }
    if taken > 0 { connection.consumed(taken, on: self) }
    if !readingPaused, inboundOffset == inbound.count, let ending {
      readHandler = nil
      _ = handler(ending)
    }
  }

  /// Hands the handler now what waits here, then what the connection's carrier holds, as the carrier's readable edge
  /// would (``CatchingUpTransport``: a session reads what has arrived before it times a keepalive ping out). The
  /// carrier's catch-up runs the whole connection: other streams get their DATA too. Nothing while reading is
  /// paused, not started or over. Loop thread only, outside nghttp2's callbacks (a session's timer job).
  package func deliverWhatHasArrived() {
    guard connection.loop.inEventLoop, readHandler != nil, !readingPaused, !released else { return }
    deliverInbound()
    guard readHandler != nil, !readingPaused else { return }
    connection.carrier.deliverWhatHasArrived()
    // While a delivery is scheduled, `received(_:)` queues what the carrier pushed: hand that over now as well.
    deliverInbound()
  }

  /// Installs the session's source; the connection pulls it when it writes.
  package func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?) {
    connection.loop.preconditionInEventLoop()
    guard !isClosed else { return }
    writeSource = source
  }

  /// Has the connection pull the session's source at the end of this turn.
  package func requestWrite() {
    guard !isClosed, !wantsPull else { return }
    wantsPull = true
    connection.outputReady(self)
  }

  /// Ends the stream's output (END_STREAM) after what is pending. Reading continues.
  package nonisolated(nonsending) func shutdownOutput() async throws {
    pullSource()
    endOutput()
  }

  /// Ends the stream: END_STREAM after what is pending; the peer's side, if still open, is reset after a bound
  /// (``HTTP2Connection/closeLinger``). Drops the session's handler and source.
  package func close() async {
    await onLoop { $0.closeOnLoop() }
  }

  /// Ends the stream abortively: its queued output goes out, then RST_STREAM CANCEL (at once when nothing is
  /// queued) unless the peer has ended its side too.
  package func abort() async {
    await onLoop { $0.abortOnLoop() }
  }

  /// Runs `body` on the connection's loop, from any task.
  private func onLoop(_ body: @escaping @Sendable (HTTP2Stream) -> Void) async {
    if connection.loop.inEventLoop {
      body(self)
    } else {
      await withTaskExecutorPreference(connection.loop) { await Self.run(body, on: self) }
    }
  }

  @concurrent private static func run(_ body: @Sendable (HTTP2Stream) -> Void, on stream: HTTP2Stream) async {
    body(stream)
  }

  private func abortOnLoop() {
    guard !isClosed, !released else {
      closeOnLoop()
      return
    }
    resetAfterEnd = true
    resetAfterEndCancels = true
    if endSent {
      released = true
      readHandler = nil
      writeSource = nil
      connection.cancel(self)
      return
    }
    closeOnLoop()
  }

  private func closeOnLoop() {
    released = true
    readHandler = nil
    pullSource()
    writeSource = nil
    resumeWaitingReader()
    guard !isClosed else { return }
    endOutput()
    connection.streamReleased(self)
  }
}

extension HTTP2Stream: AbortableTransport {}

extension HTTP2Stream: CatchingUpTransport {}

extension HTTP2Stream: CustomStringConvertible {
  /// `"h2 stream 3"`.
  package var description: String { "h2 stream \(id)" }
}
