import CWispSystem
import Glibc
import WispCommon

/// A listening socket: binds (IPv4, IPv6 or Unix), accepts without spinning when descriptors run out, and hands
/// each connection to a loop of a group, round-robin.
public final class SocketListener: @unchecked Sendable {
  /// The default backlog: 511, as nginx and Redis use (the kernel caps it at `somaxconn`).
  public static let defaultBacklog: Int32 = 511
  /// How long to wait before accepting again when the process is out of descriptors (EMFILE/ENFILE): 100 ms.
  public static let descriptorExhaustionBackoff: Duration = .milliseconds(100)

  /// The loop that runs the accept loop.
  public let loop: EventLoop
  /// Where accepted connections are served.
  public let group: EventLoopGroup?
  /// The bound address; with port 0, the port the kernel chose.
  public let localAddress: SocketAddress
  /// The most connections accepted and still open; `nil` for no limit. When reached, `accept` waits for one to
  /// close and new clients wait in the kernel's backlog.
  public let maxConnections: Int?

  private let registration: Registration
  private var openConnections = 0
  private var slotWaiter: UnsafeContinuation<Void, Never>?
  private let unixPath: String?

  /// The number of accepted connections that are still open.
  public var connectionCount: Int {
    get async { (try? await loop.submit { [self] in openConnections }) ?? 0 }
  }

  private init(
    fd: Int32, loop: EventLoop, group: EventLoopGroup?, address: SocketAddress, maxConnections: Int?,
    unixPath: String?
  ) throws(TransportError) {
    self.loop = loop
    self.group = group
    self.localAddress = address
    self.maxConnections = maxConnections
    self.unixPath = unixPath
    registration = try Registration(fd: fd, loop: loop)
  }

  /// Binds and listens on `endpoint`.
  ///
  /// - Parameters:
  ///   - endpoint: a host (`0.0.0.0`, `::`, `127.0.0.1`, `localhost`...) and port (0 for an ephemeral port), or a
  ///     Unix socket path (an existing socket file at that path is replaced).
  ///   - loop: the loop that accepts; `group` (default: `loop` alone) serves the connections.
  public static func bind(
    _ endpoint: Endpoint, backlog: Int32 = defaultBacklog, on loop: EventLoop, group: EventLoopGroup? = nil,
    maxConnections: Int? = nil
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
    }
    let bound = address.withSockAddr { pointer, length in Glibc.bind(fd, pointer, length) }
    guard bound == 0, listen(fd, backlog) == 0 else {
      let code = errno
      Glibc.close(fd)
      throw TransportError.bindFailed(endpoint, reason: Errno.message(code))
    }
    let actual = SocketOptions.localAddress(fd) ?? address
    return try SocketListener(
      fd: fd, loop: loop, group: group, address: actual, maxConnections: maxConnections, unixPath: unixPath)
  }

  /// Waits for the next connection.
  ///
  /// - Throws: ``TransportError/closed`` once the listener is closed.
  public func accept() async throws -> SocketTransport {
    try await withTaskExecutorPreference(loop) { try await acceptOnLoop() }
  }

  /// `@concurrent` so that the task's executor preference, not the caller's actor, decides where it runs: the loop.
  @concurrent private func acceptOnLoop() async throws -> SocketTransport {
    loop.preconditionInEventLoop()
    while true {
      guard !registration.isClosed else { throw TransportError.closed }
      if let maxConnections, openConnections >= maxConnections {
        await withUnsafeContinuation { continuation in
          // Checked again where the waiter is stored: a connection may have closed on the way here.
          if registration.isClosed || openConnections < maxConnections {
            continuation.resume()
          } else {
            slotWaiter = continuation
          }
        }
        continue
      }
      var storage = sockaddr_storage()
      var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
      let fd = withUnsafeMutableBytes(of: &storage) { raw in
        accept4(
          registration.fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length,
          Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
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
      case EAGAIN: try await registration.waitReadable()
      case EINTR, ECONNABORTED, EPROTO, EPERM: continue
      case EMFILE, ENFILE, ENOBUFS, ENOMEM:
        // Out of descriptors or memory: the pending connection stays in the backlog and epoll would report it
        // again at once, so back off instead of spinning.
        try await loop.sleep(for: Self.descriptorExhaustionBackoff)
      case let code:
        throw TransportError.system(operation: "accept", errno: code, message: Errno.message(code))
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

  /// Stops listening; a pending `accept` fails with ``TransportError/closed``. Removes a Unix socket file.
  public func close() async {
    _ = try? await loop.submit { [self] in
      registration.close()
      if let waiter = slotWaiter {
        slotWaiter = nil
        waiter.resume()
      }
      if let unixPath { unlink(unixPath) }
    }
  }
}
