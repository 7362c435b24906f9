import CWispSystem
import Glibc
import WispCommon

/// Socket creation and options shared by the connector and the listener.
enum SocketOptions {
  /// A new non-blocking, close-on-exec stream socket of `family`.
  static func makeStreamSocket(family: Int32) throws(TransportError) -> Int32 {
    let fd = socket(
      family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw .system(operation: "socket", errno: errno, message: Errno.message(errno)) }
    return fd
  }

  /// Sets an integer socket option, ignoring failure where the option is only an optimisation.
  @discardableResult
  static func set(_ fd: Int32, level: Int32, option: Int32, value: Int32) -> Bool {
    var value = value
    return setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
  }

  /// Disables Nagle's algorithm: a WebSocket frame goes out when written, not after the peer's ACK.
  static func setNoDelay(_ fd: Int32, family: Int32) {
    if family == AF_INET || family == AF_INET6 {
      set(fd, level: Int32(IPPROTO_TCP), option: TCP_NODELAY, value: 1)
    }
  }

  /// The pending error of a socket (`SO_ERROR`), 0 when none.
  static func pendingError(_ fd: Int32) -> Int32 {
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
    return value
  }

  /// The local address of a bound socket.
  static func localAddress(_ fd: Int32) -> SocketAddress? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let result = withUnsafeMutableBytes(of: &storage) { raw in
      getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
    }
    return result == 0 ? SocketAddress(storage: storage, length: length) : nil
  }
}
