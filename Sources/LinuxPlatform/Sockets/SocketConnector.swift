import CWispSystem
import Glibc
import WispCommon

/// Opens client connections: resolves the host off the loop, then tries each address in turn (IPv6 and IPv4, in
/// the system's preferred order) within one overall time limit.
package enum SocketConnector {
  /// The default time allowed to resolve and connect: 10 s.
  package static let defaultTimeout: Duration = .seconds(10)

  /// Connects to `endpoint`; the returned socket is served by `loop`.
  ///
  /// - Throws: `TransportError/nameResolutionFailed(host:reason:)`, `TransportError/connectionRefused(_:)`,
  ///   `TransportError/unreachable(_:)`, `TransportError/timedOut(operation:limit:)` and other typed errors.
  package static func connect(
    to endpoint: Endpoint, on loop: EventLoop, timeout: Duration = defaultTimeout
  ) async throws -> SocketTransport {
    try await withTaskExecutorPreference(loop) {
      try await connectOnLoop(endpoint, loop: loop, timeout: timeout)
    }
  }

  /// `@concurrent`: it must not inherit the caller's actor (a caller on the main actor would keep it off the loop);
  /// on the generic executor, the task's preference puts it on `loop`.
  @concurrent private static func connectOnLoop(
    _ endpoint: Endpoint, loop: EventLoop, timeout: Duration
  ) async throws -> SocketTransport {
    let start = ContinuousClock.now
    let addresses: [SocketAddress]
    switch endpoint {
    case .host(let host, let port):
      addresses = try await Resolver.resolve(host: host, port: port)
    case .unix(let path):
      guard let address = SocketAddress(unixPath: path) else {
        throw TransportError.system(operation: "connect", errno: ENAMETOOLONG, message: "invalid Unix socket path")
      }
      addresses = [address]
    }
    loop.preconditionInEventLoop()
    var lastError = TransportError.unreachable(endpoint)
    for address in addresses {
      let remaining = timeout - (ContinuousClock.now - start)
      guard remaining > .zero else { break }
      do {
        return try await attempt(address, endpoint: endpoint, loop: loop, timeout: remaining)
      } catch let error as TransportError {
        lastError = error
        if case .timedOut = error { break }
      }
    }
    if case .timedOut = lastError { throw TransportError.timedOut(operation: "connect to \(endpoint)", limit: timeout) }
    if ContinuousClock.now - start >= timeout {
      throw TransportError.timedOut(operation: "connect to \(endpoint)", limit: timeout)
    }
    throw lastError
  }

  private static func attempt(
    _ address: SocketAddress, endpoint: Endpoint, loop: EventLoop, timeout: Duration
  ) async throws -> SocketTransport {
    let fd = try SocketOptions.makeStreamSocket(family: address.family)
    let result = address.withSockAddr { pointer, length in Glibc.connect(fd, pointer, length) }
    let immediateError = result == 0 ? 0 : errno
    if immediateError != 0 && immediateError != EINPROGRESS {
      Glibc.close(fd)
      throw error(for: immediateError, endpoint: endpoint)
    }
    let transport = try SocketTransport(fd: fd, loop: loop, peer: address)
    if immediateError == EINPROGRESS {
      do {
        try await transport.registration.waitWritable(deadline: timeout)
      } catch {
        transport.closeOnLoop()
        throw error
      }
      let pending = SocketOptions.pendingError(fd)
      if pending != 0 {
        transport.closeOnLoop()
        throw Self.error(for: pending, endpoint: endpoint)
      }
    }
    SocketOptions.setNoDelay(fd, family: address.family)
    return transport
  }

  private static func error(for code: Int32, endpoint: Endpoint) -> TransportError {
    switch code {
    case ECONNREFUSED, ENOENT: .connectionRefused(endpoint)
    case ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL: .unreachable(endpoint)
    case ETIMEDOUT: .timedOut(operation: "connect to \(endpoint)", limit: .zero)
    default: .system(operation: "connect to \(endpoint)", errno: code, message: Errno.message(code))
    }
  }
}
