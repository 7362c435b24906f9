import CWispSystem
import Glibc
import WispCommon

/// A connected, non-blocking stream socket (TCP or Unix) served by one event loop.
///
/// Reads go into the loop's shared buffer and are handed to the caller's body in place; writes go straight to the
/// socket, and only what the kernel does not take at once waits for the socket to become writable.
package final class SocketTransport: Transport, @unchecked Sendable {
  /// The loop that serves this socket.
  package let loop: EventLoop
  let registration: Registration
  /// The peer's address.
  package let peerAddress: SocketAddress?
  // The flags right after the address, in its tail padding (a class's fields are laid out in the order written),
  // and the rare write error boxed: 176 bytes per socket rather than 240 (issue 34).
  @exclusivity(unchecked) private var outputShutdown = false
  /// Whether the loop will call ``flushDeferred()`` at the end of its turn.
  @exclusivity(unchecked) private var flushRegistered = false
  /// Whether a task is writing the queue and waiting for the socket (the loop's deferred flush then stays out).
  @exclusivity(unchecked) private var draining = false
  /// Whether the handler asked to stop reading until ``resumeReading()``.
  @exclusivity(unchecked) private var readingPaused = false
  /// Whether the loop will call ``deliverReads()`` at the start of its next turn.
  @exclusivity(unchecked) private var readRegistered = false
  /// Called once, on the loop, when the socket closes (a listener uses it to count connections).
  @exclusivity(unchecked) var onClose: (@Sendable () -> Void)?
  /// Chunks queued by ``write(_:)``, from `pendingHead` (its first `pendingOffset` bytes already written).
  @exclusivity(unchecked) private var pending: [[UInt8]] = []
  @exclusivity(unchecked) private var pendingHead = 0
  @exclusivity(unchecked) private var pendingOffset = 0
  @exclusivity(unchecked) private var pendingCount = 0
  /// The session's handler in push mode (``startReading(_:directReader:)``); dropped at EOF, on a read error and
  /// on close.
  @exclusivity(unchecked) private var readHandler: (@Sendable (TransportReadEvent) -> Bool)?
  /// Asked before each push-mode read for a destination of the handler's own (``startReading(_:directReader:)``).
  @exclusivity(unchecked) private var directReader:
    (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  /// The session's pull side of writing (``setWriteSource(_:)``), asked for bytes in ``flushDeferred()``.
  @exclusivity(unchecked) private var writeSource: (@Sendable () -> [UInt8]?)?
  /// The error of a deferred write, reported by the next call; boxed (a socket fails once at most), so that every
  /// socket does not carry the error's 41 bytes inline.
  @exclusivity(unchecked) private var writeFailure: WriteFailure?
  private var writeError: TransportError? {
    get { writeFailure?.error }
    set { writeFailure = newValue.map(WriteFailure.init) }
  }

  private final class WriteFailure: Sendable {
    let error: TransportError
    init(_ error: TransportError) { self.error = error }
  }

  /// Wraps a connected, non-blocking descriptor; registers it with `loop`.
  init(fd: Int32, loop: EventLoop, peer: SocketAddress?) throws(TransportError) {
    self.loop = loop
    self.peerAddress = peer
    do {
      registration = try Registration(fd: fd, loop: loop)
    } catch {
      Glibc.close(fd)
      throw error
    }
  }

  /// Adopts a connected stream socket made elsewhere (one end of a `socketpair`, a descriptor handed over by another
  /// process): it is made non-blocking and served by `loop`; the transport owns it from now on.
  ///
  /// - Throws: `TransportError/system(operation:errno:message:)` when the loop cannot watch it (the descriptor is
  ///   closed then).
  package static func adopt(connectedSocket fd: Int32, on loop: EventLoop) throws(TransportError) -> SocketTransport {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    return try SocketTransport(fd: fd, loop: loop, peer: nil)
  }

  /// The loop, as the executor that sessions on this socket run on.
  package var executor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

  /// The loop, as the executor of tasks that serve this socket.
  package var taskExecutor: (any TaskExecutor)? { loop }

  /// Whether the caller runs on the loop's thread.
  package var isExecutorThread: Bool { loop.inEventLoop }

  /// The loop's timers: a session's close, ping and grace deadlines wake on the loop's thread.
  package var sessionClock: (any SessionClock)? { loop }

  /// The loop's spare payload buffers, shared by the sessions on it.
  package var payloadPool: PayloadBufferPool? { loop.payloadPool }

  /// The peer's address as text.
  package var peerDescription: String { peerAddress?.description ?? "unknown peer" }

  /// Reads what is available (waiting for data when there is none) and hands it to `body` in the loop's buffer.
  package nonisolated(nonsending) func read<Result>(
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result {
    loop.preconditionInEventLoop()
    let buffer = loop.readBuffer
    while true {
      guard !registration.isClosed else { throw TransportError.closed }
      let count = Glibc.read(registration.fd, buffer.baseAddress, buffer.count)
      if count >= 0 {
        return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
      }
      switch errno {
      case EINTR: continue
      case EAGAIN: try await registration.waitReadable()
      case let code: throw Errno.transportError(code, operation: "read")
      }
    }
  }

  /// Pushes what arrives to `handler` on the loop thread: on every readable edge, and once at the start of the next
  /// turn (bytes may be waiting already). Loop thread only.
  package func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  ) {
    loop.preconditionInEventLoop()
    guard !registration.isClosed else { return }
    readHandler = handler
    self.directReader = directReader
    readingPaused = false
    registration.pushReader = self
    deferDeliverReads()
  }

  /// Delivers again after the handler returned `false`, from the next turn of the loop. Loop thread only.
  package func resumeReading() {
    loop.preconditionInEventLoop()
    guard readingPaused else { return }
    readingPaused = false
    deferDeliverReads()
  }

  private func deferDeliverReads() {
    guard !readRegistered else { return }
    readRegistered = true
    loop.deferRead(self)
  }

  /// Installs the session's write source; loop thread only.
  package func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?) {
    loop.preconditionInEventLoop()
    guard !registration.isClosed else { return }
    writeSource = source
  }

  /// Has `flushDeferred()` ask the write source for bytes at the end of this turn; loop thread only.
  package func requestWrite() {
    loop.preconditionInEventLoop()
    guard !flushRegistered, !registration.isClosed else { return }
    flushRegistered = true
    loop.deferFlush(self)
  }

  /// Reads at most this many full buffers per readable edge before other sockets get their turn.
  static let readsPerTurn = 16

  /// Reads and hands the bytes to the push-mode handler until the socket is drained, the handler pauses, or
  /// ``readsPerTurn`` full buffers (the rest waits for the next turn, so one fast peer cannot starve the others).
  /// Called by the loop (readable edge, or the turn after `startReading`/`resumeReading`).
  func deliverReads() {
    readRegistered = false
    let buffer = loop.readBuffer
    var reads = 0
    let fd = registration.fd
    while let handler = readHandler, !readingPaused, !registration.isClosed {
      // A large payload in progress is read straight into its storage; everything else into the loop's buffer.
      var asked = 0
      var readErrno: Int32 = 0
      let direct = directReader? { destination in
        asked = destination.count
        let count = Glibc.read(fd, destination.baseAddress, destination.count)
        if count < 0 { readErrno = errno }
        return count
      }
      let count: Int
      let delivered: UnsafeRawBufferPointer
      if let direct {
        count = direct
        delivered = UnsafeRawBufferPointer(start: nil, count: 0)
      } else {
        asked = buffer.count
        count = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if count < 0 { readErrno = errno }
        delivered = UnsafeRawBufferPointer(rebasing: buffer[0..<max(0, count)])
      }
      if count > 0 {
        if !handler(.bytes(delivered)) {
          readingPaused = true
          return
        }
        // epoll(7): a read shorter than asked means the socket is drained, and bytes arriving later raise a new
        // edge. After a hang-up no edge follows, so read on until EOF.
        if count < asked && !registration.hangUp { return }
        reads += 1
        if reads == Self.readsPerTurn {
          deferDeliverReads()
          return
        }
        continue
      }
      if count == 0 {
        readHandler = nil
        directReader = nil
        _ = handler(.endOfStream)
        return
      }
      switch readErrno {
      case EINTR: continue
      case EAGAIN: return
      case let code:
        readHandler = nil
        directReader = nil
        _ = handler(.failed(Errno.transportError(code, operation: "read")))
        return
      }
    }
  }

  /// Reads now what the socket holds, as a readable edge would (``CatchingUpTransport``). Loop thread only.
  package func deliverWhatHasArrived() {
    guard loop.inEventLoop, readHandler != nil, !readingPaused, !registration.isClosed else { return }
    deliverReads()
  }

  /// Queues `bytes`; they are written, with everything else queued on this socket, when the event loop has run
  /// its current jobs (one vectored write for a batch of answers: "corking"). Past ``writeHighWater`` queued bytes the
  /// call writes and waits for the socket until less than that is queued (backpressure); the rest is written as the
  /// socket takes it, without the caller. A write error is reported by the next call.
  package nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
    loop.preconditionInEventLoop()
    if let writeError { throw writeError }
    guard !registration.isClosed else { throw TransportError.closed }
    guard !bytes.isEmpty else { return }
    pending.append(bytes)
    pendingCount += bytes.count
    if !flushRegistered && !draining {
      flushRegistered = true
      loop.deferFlush(self)
    }
    if pendingCount >= Self.writeHighWater { try await drain(below: Self.writeHighWater) }
  }

  /// Bytes queued and not yet taken by the kernel.
  package var queuedOutputCount: Int { pendingCount }

  /// Writes, waiting for the socket, until fewer than `limit` bytes are queued.
  package nonisolated(nonsending) func waitForQueuedOutput(below limit: Int) async throws {
    loop.preconditionInEventLoop()
    guard !registration.isClosed else { throw writeError ?? TransportError.closed }
    try await drain(below: max(1, limit))
  }

  /// Bytes queued before ``write(_:)`` writes at once and waits for the socket: 256 KiB.
  package static let writeHighWater = 256 * 1024

  /// Writes everything queued, waiting for the socket as needed. One task writes at a time (the transport's
  /// contract), so one waiter for the writable edge suffices.
  package nonisolated(nonsending) func flush() async throws {
    loop.preconditionInEventLoop()
    try await drain(below: 1)
  }

  /// Writes, waiting for the socket as needed, until fewer than `limit` bytes are queued. What is left is written at
  /// the end of this turn of the loop and then on the socket's writable edges, without a task: a sender of a 1 MiB
  /// message goes on (to read its peer's messages, for one) once the socket has taken most of it.
  private nonisolated(nonsending) func drain(below limit: Int) async throws {
    if let writeError { throw writeError }
    draining = true
    defer {
      draining = false
      if pendingCount > 0 && !flushRegistered && !registration.isClosed {
        flushRegistered = true
        loop.deferFlush(self)
      }
    }
    while pendingCount >= limit {
      guard !registration.isClosed else { throw writeError ?? TransportError.closed }
      switch writePending() {
      case .done: break
      case .wouldBlock: try await registration.waitWritable()
      case .failed(let error):
        writeError = error
        throw error
      }
    }
  }

  /// Called by the loop when it has run its jobs: writes what is queued without waiting. What the socket does
  /// not take is written when the socket reports it can take more (a callback on the writable edge, no task).
  func flushDeferred() {
    flushRegistered = false
    guard !registration.isClosed else { return }
    // The session's batch first (its source returns nothing while one of its tasks is writing), queued behind
    // what earlier writes left.
    if let writeSource, let first = writeSource(), !first.isEmpty {
      let second = writeSource() ?? []
      if second.isEmpty && pendingCount == 0 && !draining {
        // The turn's one chunk, nothing queued before it: sent from here, and only what the socket does not take
        // is queued (an idle connection keeps no queue storage, issue 34, and a turn's answer needs no vector).
        guard let unsent = sendDirectly(first) else { return }
        pending.append(unsent.bytes)
        pendingOffset = unsent.offset
        pendingCount = unsent.bytes.count - unsent.offset
      } else {
        pending.append(first)
        pendingCount += first.count
        var next = second
        while !next.isEmpty {
          pending.append(next)
          pendingCount += next.count
          next = writeSource() ?? []
        }
      }
    }
    guard pendingCount > 0, !draining else { return }
    switch writePending() {
    case .done: break
    case .wouldBlock:
      registration.onWritable = { [weak self] in self?.flushDeferred() }
    case .failed(let error):
      writeError = error
    }
  }

  private enum WriteOutcome {
    case done
    case wouldBlock
    case failed(TransportError)
  }

  /// Sends `bytes` with one `send` when nothing is queued; returns `nil` when the socket took all of it (or failed:
  /// the error is kept for the next call), else the chunk with the offset of what it did not take.
  private func sendDirectly(_ bytes: [UInt8]) -> (bytes: [UInt8], offset: Int)? {
    while true {
      // MSG_NOSIGNAL: a closed peer is an EPIPE error, not a SIGPIPE that kills the process.
      let written = bytes.withUnsafeBytes { send(registration.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if written >= 0 {
        guard written < bytes.count else {
          var spent = bytes
          LargeBufferRecycler.shared.recycle(&spent)
          return nil
        }
        return (bytes, written)
      }
      switch errno {
      case EINTR: continue
      case EAGAIN: return (bytes, 0)
      case let code:
        writeError = Errno.transportError(code, operation: "send")
        return nil
      }
    }
  }

  /// Writes queued chunks with one vectored `sendmsg` per batch until they are all written or the socket is full.
  private func writePending() -> WriteOutcome {
    while pendingCount > 0 {
      let batch = min(pending.count - pendingHead, 64)
      // sendmsg, not writev: MSG_NOSIGNAL makes a closed peer an EPIPE error instead of a SIGPIPE that kills the
      // process.
      let written: Int = withVectors(pending[pendingHead..<pendingHead + batch], firstOffset: pendingOffset) {
        vectors, count in
        var message = msghdr()
        message.msg_iov = UnsafeMutablePointer(mutating: vectors)
        message.msg_iovlen = count
        return sendmsg(registration.fd, &message, Int32(MSG_NOSIGNAL))
      }
      if written < 0 {
        switch errno {
        case EINTR: continue
        case EAGAIN: return .wouldBlock
        case let code: return .failed(Errno.transportError(code, operation: "writev"))
        }
      }
      pendingCount -= written
      var remaining = written
      while pendingHead < pending.count, remaining >= pending[pendingHead].count - pendingOffset {
        remaining -= pending[pendingHead].count - pendingOffset
        // Written: a large buffer goes to the recycler, which reuses it once nothing else holds it.
        LargeBufferRecycler.shared.recycle(&pending[pendingHead])
        pendingHead += 1
        pendingOffset = 0
        if remaining == 0 { break }
      }
      pendingOffset += remaining
      if pendingHead == pending.count {
        // A queue that held one chunk (what a full socket left of a turn's answer) gives its storage back: an idle
        // connection keeps nothing for it (issue 34); a busier one keeps its room.
        pending.removeAll(keepingCapacity: pending.capacity > 1)
        pendingHead = 0
        pendingOffset = 0
      }
    }
    return .done
  }

  /// Writes several buffers, in order, as one stream (queued like ``write(_:)``).
  package nonisolated(nonsending) func write(contentsOf chunks: [[UInt8]]) async throws {
    for chunk in chunks { try await write(chunk) }
  }

  private func withVectors<Result>(
    _ chunks: ArraySlice<[UInt8]>, firstOffset: Int, _ body: (UnsafePointer<iovec>, Int) -> Result
  ) -> Result {
    // At most 64 vectors per call: a temporary (stack) allocation, so a write allocates nothing on the heap.
    withUnsafeTemporaryAllocation(of: iovec.self, capacity: chunks.count) { vectors in
      // The chunk arrays are kept alive by `chunks` for the duration of the call.
      for (position, chunk) in chunks.enumerated() {
        chunk.withUnsafeBytes { raw in
          let skip = position == 0 ? firstOffset : 0
          vectors[position] = iovec(
            iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress.map { $0 + skip }), iov_len: raw.count - skip)
        }
      }
      return body(UnsafePointer(vectors.baseAddress!), chunks.count)
    }
  }

  /// Half-closes: the peer reads EOF, we can still read.
  package nonisolated(nonsending) func shutdownOutput() async throws {
    loop.preconditionInEventLoop()
    guard !outputShutdown, !registration.isClosed else { return }
    try await flush()
    outputShutdown = true
    if Glibc.shutdown(registration.fd, Int32(SHUT_WR)) != 0, errno != ENOTCONN {
      throw Errno.transportError(errno, operation: "shutdown")
    }
  }

  /// Writes what is still queued (bounded by ``closeFlushLimit``), then closes the socket; pending reads and
  /// writes fail with `TransportError/closed`. Callable from any task.
  package func close() async {
    if loop.inEventLoop {
      await closeFlushing()
    } else {
      await withTaskExecutorPreference(loop) { await self.closeFlushingOnLoop() }
    }
  }

  /// `closeFlushing` off any caller's actor, so that the task's preference (the loop) applies.
  @concurrent private func closeFlushingOnLoop() async {
    await closeFlushing()
  }

  /// The time ``close()`` gives queued writes to reach the kernel before it closes anyway: 2 s.
  package static let closeFlushLimit: Duration = .seconds(2)

  /// Writes what is queued (waiting at most ``closeFlushLimit`` for a peer that does not read), then closes:
  /// bytes written before `close()` are not lost because the socket's buffer was full at that moment.
  private func closeFlushing() async {
    let started = ContinuousClock.now
    writing: while pendingCount > 0, !draining, !registration.isClosed {
      let remaining = Self.closeFlushLimit - (ContinuousClock.now - started)
      guard remaining > .zero else { break writing }
      switch writePending() {
      case .done:
        break writing
      case .failed:
        break writing
      case .wouldBlock:
        do { try await registration.waitWritable(deadline: remaining) } catch { break writing }
      }
    }
    closeOnLoop()
  }

  /// Closes the socket; loop thread only.
  func closeOnLoop() {
    guard !registration.isClosed else { return }
    // Best effort for what is queued (a close frame): what the socket takes now; callers that must know it was
    // written call flush() first.
    if pendingCount > 0 && !draining { _ = writePending() }
    readHandler = nil
    directReader = nil
    writeSource = nil
    registration.close()
    let callback = onClose
    onClose = nil
    callback?()
  }

  deinit {
    // A transport dropped without close() still releases its descriptor.
    if !registration.isClosed {
      let registration = registration
      // Its registration must not push to it any more. Reading in push mode keeps a transport alive (its read
      // handler holds the session that holds it), so one released while the registration is open was not pushing.
      if loop.inEventLoop { registration.pushReader = nil }
      let callback = onClose
      loop.execute {
        registration.close()
        callback?()
      }
    }
  }
}

extension SocketTransport: PayloadPoolProviding {}
