import CSystem
import Glibc
import WispCommon

/// A connected, non-blocking stream socket (TCP or Unix) served by one event loop.
///
/// Reads go into the loop's shared buffer and are handed to the caller's body in place; writes go straight to the
/// socket, and only what the kernel does not take at once waits for the socket to become writable.
public final class SocketTransport: Transport, @unchecked Sendable {
  /// The loop that serves this socket.
  public let loop: EventLoop
  let registration: Registration
  /// The peer's address.
  public let peerAddress: SocketAddress?
  /// Called once, on the loop, when the socket closes (a listener uses it to count connections).
  var onClose: (@Sendable () -> Void)?
  private var outputShutdown = false

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

  /// The loop, as the executor that sessions on this socket run on.
  public var executor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

  /// The peer's address as text.
  public var peerDescription: String { peerAddress?.description ?? "unknown peer" }

  /// Reads what is available (waiting for data when there is none) and hands it to `body` in the loop's buffer.
  public nonisolated(nonsending) func read<Result>(
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

  /// Writes all of `bytes`.
  public nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
    loop.preconditionInEventLoop()
    var offset = 0
    while offset < bytes.count {
      guard !registration.isClosed else { throw TransportError.closed }
      // MSG_NOSIGNAL: a closed peer gives EPIPE, not a SIGPIPE that kills the process.
      let count = bytes.withUnsafeBytes { raw in
        send(registration.fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
      }
      if count >= 0 {
        offset += count
        continue
      }
      switch errno {
      case EINTR: continue
      case EAGAIN: try await registration.waitWritable()
      case let code: throw Errno.transportError(code, operation: "write")
      }
    }
  }

  /// Writes several buffers with `writev`, in order, as one stream.
  public nonisolated(nonsending) func write(contentsOf chunks: [[UInt8]]) async throws {
    loop.preconditionInEventLoop()
    var index = 0
    var offsetInChunk = 0
    while index < chunks.count {
      guard !registration.isClosed else { throw TransportError.closed }
      let batch = min(chunks.count - index, 64)
      let written: Int = withVectors(chunks[index..<index + batch], firstOffset: offsetInChunk) { vectors, count in
        writev(registration.fd, vectors, Int32(count))
      }
      if written < 0 {
        switch errno {
        case EINTR: continue
        case EAGAIN:
          try await registration.waitWritable()
          continue
        case let code: throw Errno.transportError(code, operation: "writev")
        }
      }
      var remaining = written
      while index < chunks.count, remaining >= chunks[index].count - offsetInChunk {
        remaining -= chunks[index].count - offsetInChunk
        index += 1
        offsetInChunk = 0
        if remaining == 0 { break }
      }
      offsetInChunk += remaining
      while index < chunks.count, chunks[index].isEmpty { index += 1 }
    }
  }

  private func withVectors<Result>(
    _ chunks: ArraySlice<[UInt8]>, firstOffset: Int, _ body: (UnsafePointer<iovec>, Int) -> Result
  ) -> Result {
    var vectors = [iovec](repeating: iovec(), count: chunks.count)
    // The chunk arrays are kept alive by `chunks` for the duration of the call.
    for (position, chunk) in chunks.enumerated() {
      chunk.withUnsafeBytes { raw in
        let skip = position == 0 ? firstOffset : 0
        vectors[position] = iovec(
          iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress.map { $0 + skip }), iov_len: raw.count - skip)
      }
    }
    return vectors.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
  }

  /// Half-closes: the peer reads EOF, we can still read.
  public nonisolated(nonsending) func shutdownOutput() async throws {
    loop.preconditionInEventLoop()
    guard !outputShutdown, !registration.isClosed else { return }
    outputShutdown = true
    if Glibc.shutdown(registration.fd, Int32(SHUT_WR)) != 0, errno != ENOTCONN {
      throw Errno.transportError(errno, operation: "shutdown")
    }
  }

  /// Closes the socket; pending reads and writes fail with ``TransportError/closed``. Callable from any task.
  public func close() async {
    if loop.inEventLoop {
      closeOnLoop()
    } else {
      _ = try? await loop.submit { [self] in closeOnLoop() }
    }
  }

  /// Closes the socket; loop thread only.
  func closeOnLoop() {
    guard !registration.isClosed else { return }
    registration.close()
    let callback = onClose
    onClose = nil
    callback?()
  }

  deinit {
    // A transport dropped without close() still releases its descriptor.
    if !registration.isClosed {
      let registration = registration
      let callback = onClose
      loop.execute {
        registration.close()
        callback?()
      }
    }
  }
}
