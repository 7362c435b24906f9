import Synchronization

/// One end of an in-memory byte pipe: a ``Transport`` without sockets, for the test host. It follows the same
/// contract as a socket, so that sessions over it run the production path (docs/decisions/0023): what arrives is
/// pushed to the session's handler in a job of the pipe's executor, and the session's output is pulled from its
/// write source at the end of the executor's current jobs.
///
/// Each direction models a socket: the reader sees at most `capacity` bytes at a time (the kernel's buffer); what a
/// writer hands over beyond that waits in the writer's queue (``queuedOutputCount``) and moves on as the reader
/// takes bytes. ``write(_:)`` waits while the queue holds ``writeHighWater`` bytes or more, ``flush()`` until it is
/// empty: a slow reader slows its writer, as on the network. Thread-safe; both ends use the executor of a private
/// actor, so the sessions of a pipe run one job at a time.
public final class MemoryTransport: Transport, Sendable {
  /// One direction of the pipe: what one end wrote for the other.
  private struct Direction {
    /// Bytes the reader can take, from `head`: at most the pipe's capacity.
    var bytes: [UInt8] = []
    var head = 0
    /// Bytes written beyond the capacity, in order: the writer's queue.
    var queued: [UInt8] = []
    var queuedHead = 0
    /// The writer half-closed or closed: the reader gets EOF once the bytes are drained.
    var writerDone = false
    /// The reader closed: writes fail.
    var readerClosed = false
    /// A pull-mode reader (the handshake) waiting for bytes.
    var readerWaiter: UnsafeContinuation<Void, Never>?
    /// Writers waiting until fewer than `limit` bytes are queued.
    var queueWaiters: [(limit: Int, continuation: UnsafeContinuation<Void, Never>)] = []
    /// The reader's push handler, whether it paused, and whether a job will deliver.
    var readHandler: (@Sendable (TransportReadEvent) -> Bool)?
    var readPaused = false
    var deliveryScheduled = false
    /// The writer's source, and whether a job will pull from it.
    var writeSource: (@Sendable () -> [UInt8]?)?
    var writeRequested = false

    var available: Int { bytes.count - head }
    var queuedCount: Int { queued.count - queuedHead }

    /// Whether the reader has nothing more to wait for: bytes or the end.
    var readable: Bool { available > 0 || (writerDone && queuedCount == 0) }

    /// Appends `data` behind what is there: into the reader's bytes while there is room, the rest into the queue.
    mutating func append(_ data: some Collection<UInt8>, capacity: Int) {
      if queuedCount == 0 {
        let room = max(0, capacity - available)
        if data.count <= room {
          bytes.append(contentsOf: data)
          return
        }
        bytes.append(contentsOf: data.prefix(room))
        queued.append(contentsOf: data.dropFirst(room))
        return
      }
      queued.append(contentsOf: data)
    }

    /// Takes up to `limit` bytes for the reader, moves queued bytes into the room freed, and returns the writers
    /// whose wait is over.
    mutating func take(
      upTo limit: Int, capacity: Int
    ) -> (chunk: [UInt8], writers: [UnsafeContinuation<Void, Never>]) {
      let count = min(available, limit)
      let chunk = Array(bytes[head..<head + count])
      head += count
      if head == bytes.count {
        // Given back, as a socket keeps nothing of what was read: an idle pipe holds no buffer (a million idle
        // sessions over the test host would otherwise keep their handshakes' bytes).
        bytes = []
        head = 0
      }
      let moved = min(queuedCount, max(0, capacity - available))
      if moved > 0 {
        bytes.append(contentsOf: queued[queuedHead..<queuedHead + moved])
        queuedHead += moved
        if queuedHead == queued.count {
          queued = []
          queuedHead = 0
        }
      }
      return (chunk, releasedWriters())
    }

    /// Removes and returns the writers whose limit the queue is now below (all of them once the pipe is closed).
    mutating func releasedWriters() -> [UnsafeContinuation<Void, Never>] {
      let closed = readerClosed
      let count = queuedCount
      var released: [UnsafeContinuation<Void, Never>] = []
      queueWaiters.removeAll { waiter in
        guard closed || count < waiter.limit else { return false }
        released.append(waiter.continuation)
        return true
      }
      return released
    }

    /// Whether a delivery job should be started now (and marks it started).
    mutating func claimDelivery() -> Bool {
      guard readHandler != nil, !readPaused, !deliveryScheduled, readable else { return false }
      deliveryScheduled = true
      return true
    }
  }

  private struct Pipe {
    var first = Direction()
    var second = Direction()

    subscript(index: Int) -> Direction {
      get { index == 0 ? first : second }
      // In place: a get-and-set would copy the direction's buffers on every change.
      _modify {
        if index == 0 {
          yield &first
        } else {
          yield &second
        }
      }
    }
  }

  private enum ReadStep {
    case data([UInt8])
    case eof
    case wait
  }

  private final class Shared: Sendable {
    let pipe = Mutex(Pipe())
    let capacity: Int
    let executorOwner = MemoryExecutorOwner()
    init(capacity: Int) { self.capacity = capacity }
  }

  /// The actor whose executor both ends report; sessions over the pipe run there, one job at a time.
  private actor MemoryExecutorOwner {
    /// Runs `body` as a job of this executor (where the sessions of the pipe are isolated).
    func run(_ body: @Sendable () -> Void) { body() }
  }

  private let shared: Shared
  /// 0 reads direction 0 and writes direction 1; 1 the opposite.
  private let side: Int
  private var readIndex: Int { side }
  private var writeIndex: Int { 1 - side }
  /// The peer description given at creation.
  public let peerDescription: String

  private init(shared: Shared, side: Int, peer: String) {
    self.shared = shared
    self.side = side
    self.peerDescription = peer
  }

  /// A connected pair: what one end writes, the other reads.
  ///
  /// - Parameter capacity: bytes the reader of a direction sees at a time (the kernel's buffer of a socket); what a
  ///   writer hands over beyond that waits in its queue. Default 256 KiB.
  public static func pair(capacity: Int = 256 * 1024) -> (client: MemoryTransport, server: MemoryTransport) {
    let shared = Shared(capacity: max(1, capacity))
    return (
      MemoryTransport(shared: shared, side: 0, peer: "memory:server"),
      MemoryTransport(shared: shared, side: 1, peer: "memory:client")
    )
  }

  /// Bytes queued before ``write(_:)`` waits for the reader: 256 KiB, as a socket's high-water mark.
  public static let writeHighWater = 256 * 1024

  /// The most bytes one read or one call of the read handler hands over: 64 KiB, the event loop's read buffer.
  static let readChunk = 64 * 1024

  /// The executor of the pipe's private actor.
  public var executor: UnownedSerialExecutor { shared.executorOwner.unownedExecutor }

  /// Runs `body` in a job of the pipe's executor, after the jobs already queued there.
  private func runOnExecutor(_ body: @escaping @Sendable () -> Void) {
    let owner = shared.executorOwner
    Task { await owner.run(body) }
  }

  // MARK: Reading

  /// Waits for bytes (or EOF) and hands them to `body`; at most 64 KiB per call.
  public nonisolated(nonsending) func read<Result>(
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result {
    let index = readIndex
    let capacity = shared.capacity
    while true {
      let (step, writers) = shared.pipe.withLock { pipe -> (ReadStep, [UnsafeContinuation<Void, Never>]) in
        if pipe[index].available > 0 {
          let (chunk, writers) = pipe[index].take(upTo: Self.readChunk, capacity: capacity)
          return (.data(chunk), writers)
        }
        return (pipe[index].readable ? .eof : .wait, [])
      }
      for writer in writers { writer.resume() }
      switch step {
      case .data(let chunk): return try chunk.withUnsafeBytes { try body($0) }
      case .eof: return try body(UnsafeRawBufferPointer(start: nil, count: 0))
      case .wait:
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
          let resumeNow = shared.pipe.withLock { pipe -> Bool in
            if pipe[index].readable || pipe[index].readerClosed { return true }
            pipe[index].readerWaiter = continuation
            return false
          }
          if resumeNow { continuation.resume() }
        }
      }
    }
  }

  /// Pushes what the other end writes to `handler`, in jobs of the pipe's executor. `directReader` is not used (the
  /// bytes are already in memory).
  public func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  ) {
    let index = readIndex
    let deliver = shared.pipe.withLock { pipe -> Bool in
      guard !pipe[index].readerClosed else { return false }
      pipe[index].readHandler = handler
      pipe[index].readPaused = false
      return pipe[index].claimDelivery()
    }
    if deliver { runOnExecutor { self.deliverReads(index) } }
  }

  /// Delivers again after the handler returned `false`, in a later job.
  public func resumeReading() {
    let index = readIndex
    let deliver = shared.pipe.withLock { pipe -> Bool in
      pipe[index].readPaused = false
      return pipe[index].claimDelivery()
    }
    if deliver { runOnExecutor { self.deliverReads(index) } }
  }

  private enum Delivery {
    case bytes(@Sendable (TransportReadEvent) -> Bool, [UInt8])
    case end(@Sendable (TransportReadEvent) -> Bool)
    case stop
  }

  /// Hands what is readable in direction `index` to its reader's handler, 64 KiB at a time, until it pauses or
  /// nothing is left; then EOF if the writer is done. Runs in a job of the pipe's executor.
  private func deliverReads(_ index: Int) {
    let capacity = shared.capacity
    shared.pipe.withLock { $0[index].deliveryScheduled = false }
    while true {
      let (delivery, writers) = shared.pipe.withLock { pipe -> (Delivery, [UnsafeContinuation<Void, Never>]) in
        guard let handler = pipe[index].readHandler, !pipe[index].readPaused else { return (.stop, []) }
        if pipe[index].available > 0 {
          let (chunk, writers) = pipe[index].take(upTo: Self.readChunk, capacity: capacity)
          return (.bytes(handler, chunk), writers)
        }
        guard pipe[index].readable else { return (.stop, []) }
        pipe[index].readHandler = nil
        return (.end(handler), [])
      }
      for writer in writers { writer.resume() }
      switch delivery {
      case .bytes(let handler, let chunk):
        if !chunk.withUnsafeBytes({ handler(.bytes($0)) }) {
          shared.pipe.withLock { $0[index].readPaused = true }
          return
        }
      case .end(let handler):
        _ = handler(.endOfStream)
        return
      case .stop:
        return
      }
    }
  }

  // MARK: Writing

  /// Installs the session's source of bytes; ``requestWrite()`` has a job pull from it.
  public func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?) {
    let index = writeIndex
    shared.pipe.withLock { pipe in
      guard !pipe[index].writerDone else { return }
      pipe[index].writeSource = source
    }
  }

  /// Pulls from the write source in a job after the executor's current ones (the end of this turn).
  public func requestWrite() {
    let index = writeIndex
    let pull = shared.pipe.withLock { pipe -> Bool in
      guard pipe[index].writeSource != nil, !pipe[index].writeRequested else { return false }
      pipe[index].writeRequested = true
      return true
    }
    if pull { runOnExecutor { self.pullWrites() } }
  }

  /// Takes the source's bytes, in order, until it returns `nil`, and appends them to the pipe.
  private func pullWrites() {
    let index = writeIndex
    guard
      let source = shared.pipe.withLock({ pipe -> (@Sendable () -> [UInt8]?)? in
        pipe[index].writeRequested = false
        return pipe[index].writeSource
      })
    else { return }
    while let bytes = source() {
      if !append(bytes) { return }
    }
  }

  /// Appends `bytes` to the direction this end writes and wakes its reader; `false` when the pipe is closed.
  private func append(_ bytes: [UInt8]) -> Bool {
    guard !bytes.isEmpty else { return true }
    let index = writeIndex
    let capacity = shared.capacity
    let (appended, waiter, deliver) = shared.pipe.withLock {
      pipe -> (Bool, UnsafeContinuation<Void, Never>?, Bool) in
      guard !pipe[index].writerDone, !pipe[index].readerClosed else { return (false, nil, false) }
      pipe[index].append(bytes, capacity: capacity)
      let waiter = pipe[index].readerWaiter
      pipe[index].readerWaiter = nil
      return (true, waiter, pipe[index].claimDelivery())
    }
    waiter?.resume()
    if deliver { runOnExecutor { self.deliverReads(index) } }
    return appended
  }

  /// Appends `bytes`, then waits while ``writeHighWater`` bytes or more are queued for the reader.
  public nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
    guard append(bytes) else { throw TransportError.closed }
    try await waitForQueuedOutput(below: Self.writeHighWater)
  }

  /// Bytes written that the reader's side has no room for yet.
  public var queuedOutputCount: Int {
    let index = writeIndex
    return shared.pipe.withLock { $0[index].queuedCount }
  }

  /// Waits until fewer than `limit` bytes are queued (the reader took them).
  public nonisolated(nonsending) func waitForQueuedOutput(below limit: Int) async throws {
    let index = writeIndex
    let limit = max(1, limit)
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      let resumeNow = shared.pipe.withLock { pipe -> Bool in
        if pipe[index].queuedCount < limit || pipe[index].readerClosed { return true }
        pipe[index].queueWaiters.append((limit, continuation))
        return false
      }
      if resumeNow { continuation.resume() }
    }
    let closed = shared.pipe.withLock { $0[index].readerClosed }
    if closed { throw TransportError.closed }
  }

  /// Waits until everything written is in the reader's side of the pipe.
  public nonisolated(nonsending) func flush() async throws {
    try await waitForQueuedOutput(below: 1)
  }

  // MARK: Ending

  /// Half-closes: the other end reads EOF after the bytes already written.
  public nonisolated(nonsending) func shutdownOutput() async throws {
    finishWriting()
  }

  private func finishWriting() {
    let index = writeIndex
    let (waiter, deliver) = shared.pipe.withLock { pipe -> (UnsafeContinuation<Void, Never>?, Bool) in
      pipe[index].writerDone = true
      pipe[index].writeSource = nil
      let waiter = pipe[index].readerWaiter
      pipe[index].readerWaiter = nil
      return (waiter, pipe[index].claimDelivery())
    }
    waiter?.resume()
    if deliver { runOnExecutor { self.deliverReads(index) } }
  }

  /// Closes this end: the other end drains what was written (queued bytes included) and then reads EOF; writes in
  /// either direction fail with ``TransportError/closed``; reads here see EOF. Drops the handler and the source.
  public func close() async {
    finishWriting()
    let index = readIndex
    let (waiter, writers) = shared.pipe.withLock {
      pipe -> (UnsafeContinuation<Void, Never>?, [UnsafeContinuation<Void, Never>]) in
      pipe[index].readerClosed = true
      pipe[index].writerDone = true
      pipe[index].readHandler = nil
      pipe[index].writeSource = nil
      let waiter = pipe[index].readerWaiter
      pipe[index].readerWaiter = nil
      return (waiter, pipe[index].releasedWriters())
    }
    waiter?.resume()
    for writer in writers { writer.resume() }
  }
}
