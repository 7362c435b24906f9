import Synchronization

/// One end of an in-memory byte pipe: a ``Transport`` without sockets, for the test host. Each direction holds at
/// most `capacity` bytes; a writer waits while its direction is full, as a socket's sender does, so backpressure
/// behaves as on the network. Thread-safe; both ends use the executor of a private actor.
public final class MemoryTransport: Transport, Sendable {
  /// One direction of the pipe.
  private struct Direction {
    var bytes: [UInt8] = []
    var head = 0
    /// The writer half-closed or closed: the reader gets EOF once the bytes are drained.
    var writerDone = false
    var readerWaiter: UnsafeContinuation<Void, Never>?
    var writerWaiter: UnsafeContinuation<Void, Never>?

    var available: Int { bytes.count - head }
  }

  private struct Pipe {
    var first = Direction()
    var second = Direction()
  }

  private enum ReadStep {
    case data([UInt8])
    case eof
    case wait
  }

  private enum WriteStep {
    case wrote(Int)
    case wait
    case closed
  }

  private final class Shared: Sendable {
    let pipe = Mutex(Pipe())
    let capacity: Int
    let executorOwner = MemoryExecutorOwner()
    init(capacity: Int) { self.capacity = capacity }
  }

  /// The actor whose executor both ends report; sessions over the pipe run there, one job at a time.
  private actor MemoryExecutorOwner {}

  private let shared: Shared
  /// 0 reads direction 0 and writes direction 1; 1 the opposite.
  private let side: Int
  /// The peer description given at creation.
  public let peerDescription: String

  private init(shared: Shared, side: Int, peer: String) {
    self.shared = shared
    self.side = side
    self.peerDescription = peer
  }

  /// A connected pair: what one end writes, the other reads.
  ///
  /// - Parameter capacity: bytes buffered per direction before a writer waits. Default 256 KiB.
  public static func pair(capacity: Int = 256 * 1024) -> (client: MemoryTransport, server: MemoryTransport) {
    let shared = Shared(capacity: max(1, capacity))
    return (
      MemoryTransport(shared: shared, side: 0, peer: "memory:server"),
      MemoryTransport(shared: shared, side: 1, peer: "memory:client")
    )
  }

  /// The executor of the pipe's private actor.
  public var executor: UnownedSerialExecutor { shared.executorOwner.unownedExecutor }

  private static func withDirection<R>(
    _ pipe: inout Pipe, _ index: Int, _ body: (inout Direction) -> R
  ) -> R {
    index == 0 ? body(&pipe.first) : body(&pipe.second)
  }

  /// Waits for bytes (or EOF) and hands them to `body`; at most 64 KiB per call.
  public nonisolated(nonsending) func read<Result>(
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result {
    let readIndex = side
    while true {
      let step = shared.pipe.withLock { pipe -> ReadStep in
        Self.withDirection(&pipe, readIndex) { direction -> ReadStep in
          if direction.available > 0 {
            let count = min(direction.available, 64 * 1024)
            let chunk = Array(direction.bytes[direction.head..<direction.head + count])
            direction.head += count
            if direction.head == direction.bytes.count {
              direction.bytes.removeAll(keepingCapacity: true)
              direction.head = 0
            }
            if let writer = direction.writerWaiter {
              direction.writerWaiter = nil
              writer.resume()
            }
            return .data(chunk)
          }
          return direction.writerDone ? .eof : .wait
        }
      }
      switch step {
      case .data(let chunk): return try chunk.withUnsafeBytes { try body($0) }
      case .eof: return try body(UnsafeRawBufferPointer(start: nil, count: 0))
      case .wait:
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
          let resumeNow = shared.pipe.withLock { pipe -> Bool in
            Self.withDirection(&pipe, readIndex) { direction -> Bool in
              if direction.available > 0 || direction.writerDone { return true }
              direction.readerWaiter = continuation
              return false
            }
          }
          if resumeNow { continuation.resume() }
        }
      }
    }
  }

  /// Writes all of `bytes`, waiting while the direction holds `capacity` bytes.
  public nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
    let writeIndex = 1 - side
    let capacity = shared.capacity
    var offset = 0
    while offset < bytes.count {
      let step = shared.pipe.withLock { pipe -> WriteStep in
        Self.withDirection(&pipe, writeIndex) { direction -> WriteStep in
          if direction.writerDone { return .closed }
          let room = capacity - direction.available
          guard room > 0 else { return .wait }
          let count = min(room, bytes.count - offset)
          direction.bytes.append(contentsOf: bytes[offset..<offset + count])
          if let reader = direction.readerWaiter {
            direction.readerWaiter = nil
            reader.resume()
          }
          return .wrote(count)
        }
      }
      switch step {
      case .wrote(let count): offset += count
      case .closed: throw TransportError.closed
      case .wait:
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
          let resumeNow = shared.pipe.withLock { pipe -> Bool in
            Self.withDirection(&pipe, writeIndex) { direction -> Bool in
              if direction.available < capacity || direction.writerDone { return true }
              direction.writerWaiter = continuation
              return false
            }
          }
          if resumeNow { continuation.resume() }
        }
      }
    }
  }

  /// Writes are immediate in memory: nothing to wait for.
  public nonisolated(nonsending) func flush() async throws {}

  /// Half-closes: the other end reads EOF after the bytes already written.
  public nonisolated(nonsending) func shutdownOutput() async throws {
    let writeIndex = 1 - side
    shared.pipe.withLock { pipe in
      Self.withDirection(&pipe, writeIndex) { direction in
        direction.writerDone = true
        if let reader = direction.readerWaiter {
          direction.readerWaiter = nil
          reader.resume()
        }
      }
    }
  }

  /// Closes this end: the other end drains what was written and then reads EOF; writes in either direction fail
  /// with ``TransportError/closed``; reads here see EOF.
  public func close() async {
    shared.pipe.withLock { pipe in
      let writeIndex = 1 - side
      // The other end drains and then sees EOF; this end is closed for good.
      Self.withDirection(&pipe, writeIndex) { $0.writerDone = true }
      Self.withDirection(&pipe, side) { $0.writerDone = true }
      for index in 0..<2 {
        Self.withDirection(&pipe, index) { direction in
          direction.readerWaiter?.resume()
          direction.readerWaiter = nil
          direction.writerWaiter?.resume()
          direction.writerWaiter = nil
        }
      }
    }
  }
}
