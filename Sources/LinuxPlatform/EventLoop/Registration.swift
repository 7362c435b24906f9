import CWispSystem
import Glibc
import WispCommon

/// A file descriptor registered with a loop's epoll (edge-triggered), and the tasks waiting for it to become
/// readable or writable.
///
/// The protocol is "try the system call; on EAGAIN, wait for the next edge". All state is confined to the loop
/// thread. An edge that arrives while nobody waits is remembered (`readEdge`, `writeEdge`), because the runtime may
/// hop (through the loop's job queue) between the EAGAIN and the wait, and the loop may handle the edge in that
/// gap; the next wait then returns at once and the caller retries the system call.
/// Loop-confined: its stored state is `@exclusivity(unchecked)`, as the loop's own (EventLoop.swift).
final class Registration: @unchecked Sendable {
  let loop: EventLoop
  // The descriptor and the flags first, so that the flags fill the word the descriptor begins (a class's fields are
  // laid out in the order written: 72 bytes rather than 81, a smaller allocation per connection, issue 34).
  let fd: Int32
  /// An edge seen while no task waited to read.
  @exclusivity(unchecked) private var readEdge = false
  /// An edge seen while no task waited to write.
  @exclusivity(unchecked) private var writeEdge = false
  @exclusivity(unchecked) private(set) var isClosed = false
  /// Set by an EPOLLHUP/EPOLLERR/EPOLLRDHUP: waits return at once so the next system call reports the condition.
  @exclusivity(unchecked) private(set) var hangUp = false
  @exclusivity(unchecked) private var readWaiter: UnsafeContinuation<Void, any Error>?
  @exclusivity(unchecked) private var writeWaiter: UnsafeContinuation<Void, any Error>?
  /// Called on the next writable edge when no task waits to write (a socket's deferred writes continue there).
  @exclusivity(unchecked) var onWritable: (() -> Void)?
  /// Read on every readable edge when no task waits to read (a socket that pushes what arrives to its session).
  /// The socket itself, not a closure: a closure capturing it `unowned` is one more allocation per connection
  /// (issue 34). Unowned: the socket owns this registration and clears the field before it goes.
  @exclusivity(unchecked) unowned(unsafe) var pushReader: SocketTransport?

  /// Registers `fd` with `loop`'s epoll. Thread-safe (epoll_ctl is), so a listener may hand a new connection to
  /// another loop.
  init(fd: Int32, loop: EventLoop) throws(TransportError) {
    self.fd = fd
    self.loop = loop
    var event = epoll_event()
    event.events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
    event.data.u64 = UInt64(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()))
    guard epoll_ctl(loop.epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
      throw .system(operation: "epoll_ctl", errno: errno, message: Errno.message(errno))
    }
  }

  /// Called by the loop for each epoll event of this descriptor.
  func handle(events: UInt32) {
    let errorBits = EPOLLERR.rawValue | EPOLLHUP.rawValue
    if events & (errorBits | EPOLLRDHUP.rawValue) != 0 { hangUp = true }
    if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | errorBits) != 0 {
      if let waiter = readWaiter {
        readWaiter = nil
        waiter.resume()
      } else if let pushReader {
        pushReader.deliverReads()
      } else {
        readEdge = true
      }
    }
    if events & (EPOLLOUT.rawValue | errorBits) != 0 {
      if let waiter = writeWaiter {
        writeWaiter = nil
        waiter.resume()
      } else if let callback = onWritable {
        onWritable = nil
        callback()
      } else {
        writeEdge = true
      }
    }
  }

  /// Waits for the next readable edge (after a read returned EAGAIN). Loop thread only.
  func waitReadable(deadline: Duration? = nil) async throws {
    try await wait(isRead: true, deadline: deadline)
  }

  /// Waits for the next writable edge (after a write returned EAGAIN, or a connect is in progress).
  func waitWritable(deadline: Duration? = nil) async throws {
    try await wait(isRead: false, deadline: deadline)
  }

  /// Suspends until the next edge in one direction.
  ///
  /// `isolation` is the caller's actor (a session, a handshake runner) or `nil` (a task that prefers the loop as
  /// its executor). The cancellation handler's operation closure captures it so that the closure runs on the
  /// caller's executor, the loop: the standard library types that closure as `@concurrent`, and without the capture
  /// it would run on the global pool, touching this loop-confined state from another thread (a waiter stored after
  /// `close()` was never resumed: a hang; see docs/decisions/0004).
  private func wait(
    isRead: Bool, deadline: Duration?, isolation: isolated (any Actor)? = #isolation
  ) async throws {
    loop.preconditionInEventLoop()
    guard !isClosed else { throw TransportError.closed }
    // After a hang-up, the next read reports EOF or the error at once.
    if isRead && hangUp { return }
    var timer: TimerHandle?
    defer { if let timer { loop.cancel(timer) } }
    try await withTaskCancellationHandler(
      operation: {
        _ = isolation
        // The explicit isolation also makes the resumed task continue on the caller's executor (the loop) directly,
        // not through the global pool.
        try await withUnsafeThrowingContinuation(isolation: isolation) {
          (continuation: UnsafeContinuation<Void, any Error>) in
          // State below is confined to the loop thread: trap rather than race if a future change hops off it.
          loop.preconditionInEventLoop()
          if isClosed {
            continuation.resume(throwing: TransportError.closed)
            return
          }
          if Task.isCancelled {
            continuation.resume(throwing: CancellationError())
            return
          }
          // Checked here, where the waiter is stored, not before: the runtime may have run the loop between.
          if isRead ? readEdge || hangUp : writeEdge {
            if isRead { readEdge = false } else { writeEdge = false }
            continuation.resume()
            return
          }
          if isRead { readWaiter = continuation } else { writeWaiter = continuation }
          if let deadline {
            timer = loop.schedule(after: deadline) { [self] in
              let operation = isRead ? "waiting for data" : "waiting to write"
              failWaiters(
                with: TransportError.timedOut(operation: operation, limit: deadline), read: isRead, write: !isRead)
            }
          }
        }
      },
      onCancel: { [self] in
        loop.execute { [self] in
          failWaiters(with: CancellationError(), read: isRead, write: !isRead)
        }
      }, isolation: isolation)
  }

  /// Resumes waiting tasks with `error`. Loop thread only.
  func failWaiters(with error: any Error, read: Bool = true, write: Bool = true) {
    if read, let waiter = readWaiter {
      readWaiter = nil
      waiter.resume(throwing: error)
    }
    if write, let waiter = writeWaiter {
      writeWaiter = nil
      waiter.resume(throwing: error)
    }
  }

  /// Removes the descriptor from epoll, closes it, and fails pending waits with ``TransportError/closed``. Loop
  /// thread only; idempotent.
  func close() {
    guard !isClosed else { return }
    isClosed = true
    onWritable = nil
    pushReader = nil
    epoll_ctl(loop.epollFD, EPOLL_CTL_DEL, fd, nil)
    Glibc.close(fd)
    failWaiters(with: TransportError.closed)
  }
}
