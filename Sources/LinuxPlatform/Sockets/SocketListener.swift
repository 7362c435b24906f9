import CWispSystem
import Glibc
import WispCommon

/// A listening socket: binds (IPv4, IPv6 or Unix), accepts without spinning when descriptors run out, and hands
/// each connection to a loop of a group, round-robin.
package final class SocketListener: @unchecked Sendable {
  /// The default backlog: 511, as nginx and Redis use (the kernel caps it at `somaxconn`).
  package static let defaultBacklog: Int32 = 511
  /// How long to wait before accepting again when the process is out of descriptors (EMFILE/ENFILE): 100 ms.
  package static let descriptorExhaustionBackoff: Duration = .milliseconds(100)

  /// The loop that runs the accept loop.
  package let loop: EventLoop
  /// Where accepted connections are served.
  package let group: EventLoopGroup?
  /// The bound address; with port 0, the port the kernel chose.
  package let localAddress: SocketAddress
  /// The most connections accepted and still open; `nil` for no limit. What happens to a client that arrives at
  /// the limit is ``refusal``'s choice.
  package let maxConnections: Int?
  /// What a client that arrives at ``maxConnections`` gets: `nil`: it waits in the kernel's backlog until a
  /// connection closes (and may time out there); bytes: it is accepted, gets these bytes (an HTTP 503 with
  /// `Retry-After`; empty for none) and is closed at once, without counting as a connection. With a refusal the
  /// listener also keeps one descriptor in reserve, so that even a process out of descriptors (EMFILE) answers.
  package let refusal: [UInt8]?
  /// Refused connections that may linger at once, reading the client's request until it closes (at most
  /// ``refusalLinger``) so that closing does not reset the connection before the client has read the answer;
  /// more are closed right after the answer. 64.
  package static let maxLingeringRefusals = 64
  /// The longest a refused connection lingers: 1 s.
  package static let refusalLinger: Duration = .seconds(1)

  private let registration: Registration
  private var openConnections = 0
  private var lingeringRefusals = 0
  /// A descriptor on /dev/null, closed to make room for accepting (and refusing) one client when the process is
  /// out of descriptors, then opened again; -1 without a refusal.
  private var reserveDescriptor: Int32 = -1
  private var slotWaiter: UnsafeContinuation<Void, Never>?
  private let unixPath: String?
  /// Connections ``close()`` took from the kernel's queue, which `accept` returns before it fails.
  private var drained: [SocketTransport] = []
  /// The most connections ``close()`` takes from the queue: the backlog's usual size.
  static let maxDrained = 4096

  /// The number of accepted connections that are still open.
  package var connectionCount: Int {
    get async { (try? await loop.submit { [self] in openConnections }) ?? 0 }
  }

  private init(
    fd: Int32, loop: EventLoop, group: EventLoopGroup?, address: SocketAddress, maxConnections: Int?,
    refusal: [UInt8]?, unixPath: String?
  ) throws(TransportError) {
    self.loop = loop
    self.group = group
    self.localAddress = address
    self.maxConnections = maxConnections
    self.refusal = refusal
    self.unixPath = unixPath
    registration = try Registration(fd: fd, loop: loop)
    if refusal != nil { reserveDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC) }
  }

  deinit {
    if reserveDescriptor >= 0 { Glibc.close(reserveDescriptor) }
  }

  /// Binds and listens on `endpoint`.
  ///
  /// - Parameters:
  ///   - endpoint: a host (`0.0.0.0`, `::`, `127.0.0.1`, `localhost`...) and port (0 for an ephemeral port), or a
  ///     Unix socket path (an existing socket file at that path is replaced).
  ///   - backlog: the kernel's queue of completed connections not yet accepted (capped by `net.core.somaxconn`).
  ///   - loop: the loop that accepts.
  ///   - group: the loops that serve the accepted connections; default `loop` alone.
  ///   - maxConnections: the most connections open at once (default: no limit).
  ///   - refusal: what a client arriving at the limit gets (see ``refusal``); default `nil`: it waits.
  ///   - sendBufferSize: `SO_SNDBUF` of every accepted connection, in bytes (the kernel doubles it for its own
  ///     bookkeeping); default `nil`: the kernel's autotuning (`net.ipv4.tcp_wmem`).
  package static func bind(
    _ endpoint: Endpoint, backlog: Int32 = defaultBacklog, on loop: EventLoop, group: EventLoopGroup? = nil,
    maxConnections: Int? = nil, refusal: [UInt8]? = nil, sendBufferSize: Int? = nil, reusePort: Bool = false
  ) async throws -> SocketListener {
    let address: SocketAddress
    var unixPath: String?
    switch endpoint {
    case .host(let host, let port):
      address = try await Resolver.resolve(host: host, port: port)[0]
    case .unix(let path):
      guard let unixAddress = SocketAddress(unixPath: path) else {
        throw TransportError.bindFailed(endpoint, reason: "the path does not fit a Unix socket address")
      }
      address = unixAddress
      unixPath = path
      var status = stat()
      if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
    }
    let fd = try SocketOptions.makeStreamSocket(family: address.family)
    if address.family != AF_UNIX {
      SocketOptions.set(fd, level: SOL_SOCKET, option: SO_REUSEADDR, value: 1)
      // Several processes on one port: the kernel spreads new connections over the listeners of the group.
      if reusePort { SocketOptions.set(fd, level: SOL_SOCKET, option: SO_REUSEPORT, value: 1) }
    }
    // Accepted sockets inherit the listener's buffer sizes.
    if let sendBufferSize {
      SocketOptions.set(fd, level: SOL_SOCKET, option: SO_SNDBUF, value: Int32(clamping: sendBufferSize))
    }
    let bound = address.withSockAddr { pointer, length in Glibc.bind(fd, pointer, length) }
    guard bound == 0, listen(fd, backlog) == 0 else {
      let code = errno
      Glibc.close(fd)
      throw TransportError.bindFailed(endpoint, reason: Errno.message(code))
    }
    let actual = SocketOptions.localAddress(fd) ?? address
    return try SocketListener(
      fd: fd, loop: loop, group: group, address: actual, maxConnections: maxConnections, refusal: refusal,
      unixPath: unixPath)
  }

  /// Waits for the next connection.
  ///
  /// - Throws: `TransportError/closed` once the listener is closed.
  package func accept() async throws -> SocketTransport {
    try await withTaskExecutorPreference(loop) { try await acceptOnLoop() }
  }

  /// `@concurrent` so that the task's executor preference, not the caller's actor, decides where it runs: the loop.
  @concurrent private func acceptOnLoop() async throws -> SocketTransport {
    loop.preconditionInEventLoop()
    while true {
      // Connections taken from the queue by ``close()`` are served before the end.
      if !drained.isEmpty { return drained.removeFirst() }
      guard !registration.isClosed else { throw TransportError.closed }
      let atLimit = maxConnections.map { openConnections >= $0 } ?? false
      if atLimit && refusal == nil {
        await withUnsafeContinuation { continuation in
          // Checked again where the waiter is stored: a connection may have closed on the way here.
          if registration.isClosed || openConnections < maxConnections ?? .max {
            continuation.resume()
          } else {
            slotWaiter = continuation
          }
        }
        continue
      }
      var storage = sockaddr_storage()
      var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
      let fd = acceptOne(&storage, &length)
      if fd >= 0 && atLimit {
        refuse(fd, lingering: true)
        continue
      }
      if fd >= 0 {
        let peer = SocketAddress(storage: storage, length: length)
        SocketOptions.setNoDelay(fd, family: Int32(storage.ss_family))
        let target = group?.next() ?? loop
        let transport = try SocketTransport(fd: fd, loop: target, peer: peer)
        openConnections += 1
        transport.onClose = { [self] in loop.execute { [self] in connectionClosed() } }
        return transport
      }
      switch errno {
      case EAGAIN:
        do {
          try await registration.waitReadable()
        } catch {
          // Closed while waiting: what the close took from the queue is served first.
          if drained.isEmpty { throw error }
        }
      case EINTR, ECONNABORTED, EPROTO, EPERM: continue
      case EMFILE, ENFILE, ENOBUFS, ENOMEM:
        // Out of descriptors: with a refusal, the reserve descriptor makes room to accept one client and answer
        // it (then it is opened again), so clients are told at once instead of timing out in the backlog.
        if refusal != nil, reserveDescriptor >= 0, errno == EMFILE || errno == ENFILE {
          Glibc.close(reserveDescriptor)
          let refused = acceptOne(&storage, &length)
          if refused >= 0 { refuse(refused, lingering: false) }
          reserveDescriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
          if refused >= 0 { continue }
        }
        // Out of descriptors or memory: the pending connection stays in the backlog and epoll would report it
        // again at once, so back off instead of spinning.
        try await loop.sleep(for: Self.descriptorExhaustionBackoff)
      case let code:
        throw TransportError.system(operation: "accept", errno: code, message: Errno.message(code))
      }
    }
  }

  private func acceptOne(_ storage: inout sockaddr_storage, _ length: inout socklen_t) -> Int32 {
    length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    return withUnsafeMutableBytes(of: &storage) { raw in
      accept4(
        registration.fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length,
        Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
    }
  }

  /// Answers a client that arrived at the limit with ``refusal`` and closes its connection: after lingering
  /// (reading its request until it closes, bounded by ``refusalLinger``) when `lingering` and fewer than
  /// ``maxLingeringRefusals`` linger, else at once (after reading what has already arrived, so that the close is
  /// a FIN rather than a reset when the request is in). Loop thread only.
  private func refuse(_ fd: Int32, lingering: Bool) {
    let answer = refusal ?? []
    if !answer.isEmpty {
      // A fresh socket's send buffer takes a small answer whole.
      _ = answer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
      Glibc.shutdown(fd, Int32(SHUT_WR))
    }
    guard lingering, !answer.isEmpty, lingeringRefusals < Self.maxLingeringRefusals,
      let lingerer = try? Registration(fd: fd, loop: loop)
    else {
      Self.discardReadable(fd)
      Glibc.close(fd)
      return
    }
    lingeringRefusals += 1
    Task(executorPreference: loop) { [self] in
      let started = ContinuousClock.now
      while true {
        let remaining = Self.refusalLinger - (ContinuousClock.now - started)
        guard remaining > .zero, (try? await lingerer.waitReadable(deadline: remaining)) != nil else { break }
        if !Self.discardReadable(fd) { break }
      }
      lingerer.close()
      lingeringRefusals -= 1
    }
  }

  /// Reads and drops what `fd` has received; `false` at end of stream or on an error other than "nothing more".
  @discardableResult
  private static func discardReadable(_ fd: Int32) -> Bool {
    var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    return withUnsafeMutableBytes(of: &buffer) { raw in
      while true {
        let count = Glibc.recv(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT))
        if count > 0 { continue }
        return count < 0 && (errno == EAGAIN || errno == EINTR)
      }
    }
  }

  private func connectionClosed() {
    openConnections -= 1
    if let waiter = slotWaiter {
      slotWaiter = nil
      waiter.resume()
    }
  }

  /// Stops listening; a pending `accept` fails with `TransportError/closed`. Removes a Unix socket file.
  ///
  /// The connections the kernel completed and queued for this listener are accepted first, in the same job as the
  /// close (no await between them), and `accept` returns them before it fails: closing a listener resets what is
  /// left in its queue, and with `SO_REUSEPORT` that would refuse clients another process could have served. (The
  /// kernel's `net.ipv4.tcp_migrate_req = 1` also moves them to the group's other listeners, handshakes in
  /// progress included.)
  package func close() async {
    _ = try? await loop.submit { [self] in
      var storage = sockaddr_storage()
      var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
      while !registration.isClosed, drained.count < Self.maxDrained {
        let fd = acceptOne(&storage, &length)
        guard fd >= 0 else { break }
        let peer = SocketAddress(storage: storage, length: length)
        SocketOptions.setNoDelay(fd, family: Int32(storage.ss_family))
        guard let transport = try? SocketTransport(fd: fd, loop: group?.next() ?? loop, peer: peer) else {
          Glibc.close(fd)
          continue
        }
        openConnections += 1
        transport.onClose = { [self] in loop.execute { [self] in connectionClosed() } }
        drained.append(transport)
      }
      registration.close()
      if let waiter = slotWaiter {
        slotWaiter = nil
        waiter.resume()
      }
      if let unixPath { unlink(unixPath) }
    }
  }
}
