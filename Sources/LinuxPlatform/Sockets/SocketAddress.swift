import CWispSystem
import Glibc
import WispCommon

/// An IPv4, IPv6 or Unix domain socket address, convertible to and from `sockaddr`.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
  /// The address family and its data.
  public enum Kind: Sendable, Hashable {
    /// IPv4: address text and port.
    case ipv4(String, port: Int)
    /// IPv6: address text and port.
    case ipv6(String, port: Int)
    /// A Unix domain socket path.
    case unix(String)
  }

  /// The address.
  public let kind: Kind
  /// An IPv6 address's scope (`sin6_scope_id`, the interface of a link-local address); 0 otherwise.
  ///
  /// The `sockaddr` itself is not kept: ``withSockAddr(_:)`` rebuilds it from ``kind``. A server keeps every peer's
  /// address for its whole session, and a `sockaddr_storage` is 128 bytes (memory per idle session, issue 34).
  private let scopeID: UInt32

  /// The port, or `nil` for Unix sockets.
  public var port: Int? {
    switch kind {
    case .ipv4(_, let port), .ipv6(_, let port): port
    case .unix: nil
    }
  }

  /// `"127.0.0.1:8080"`, `"[::1]:8080"`, `"unix:/tmp/ws.sock"`.
  public var description: String {
    switch kind {
    case .ipv4(let host, let port): "\(host):\(port)"
    case .ipv6(let host, let port): "[\(host)]:\(port)"
    case .unix(let path): "unix:\(path)"
    }
  }

  /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
  var family: Int32 {
    switch kind {
    case .ipv4: AF_INET
    case .ipv6: AF_INET6
    case .unix: AF_UNIX
    }
  }

  /// Parses an IP literal (no name resolution); `nil` when `host` is not one.
  public init?(ipLiteral host: String, port: Int) {
    let literal = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    guard
      let encoded = Self.encode(.ipv4(literal, port: port), scopeID: 0)
        ?? Self.encode(.ipv6(literal, port: port), scopeID: 0)
    else { return nil }
    self.init(storage: encoded.storage, length: encoded.length)
  }

  /// A Unix domain socket address; `nil` when the path does not fit `sun_path` (107 bytes).
  public init?(unixPath path: String) {
    guard !path.isEmpty, let encoded = Self.encode(.unix(path), scopeID: 0) else { return nil }
    self.init(storage: encoded.storage, length: encoded.length)
  }

  /// Wraps a `sockaddr` filled by the kernel (`accept`, `getsockname`, `getaddrinfo`).
  init(storage: sockaddr_storage, length: socklen_t) {
    kind = Self.describe(storage)
    var copy = storage
    scopeID =
      Int32(storage.ss_family) == AF_INET6
      ? withUnsafeBytes(of: &copy) { $0.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_scope_id }
      : 0
  }

  /// Calls `body` with the address as a `sockaddr` pointer and its length.
  func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
    var (storage, length) = Self.encode(kind, scopeID: scopeID) ?? (sockaddr_storage(), 0)
    return try withUnsafeBytes(of: &storage) { raw in
      try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
    }
  }

  /// The `sockaddr` of `kind`: `nil` when the host is not an address of its family, or a path does not fit
  /// `sun_path` (107 bytes).
  private static func encode(_ kind: Kind, scopeID: UInt32) -> (storage: sockaddr_storage, length: socklen_t)? {
    var storage = sockaddr_storage()
    let length = withUnsafeMutableBytes(of: &storage) { raw -> Int? in
      let base = raw.baseAddress!
      switch kind {
      case .ipv4(let host, let port):
        let address = base.assumingMemoryBound(to: sockaddr_in.self)
        guard inet_pton(AF_INET, host, &address.pointee.sin_addr) == 1 else { return nil }
        address.pointee.sin_family = sa_family_t(AF_INET)
        address.pointee.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        return MemoryLayout<sockaddr_in>.size
      case .ipv6(let host, let port):
        let address = base.assumingMemoryBound(to: sockaddr_in6.self)
        guard inet_pton(AF_INET6, host, &address.pointee.sin6_addr) == 1 else { return nil }
        address.pointee.sin6_family = sa_family_t(AF_INET6)
        address.pointee.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.pointee.sin6_scope_id = scopeID
        return MemoryLayout<sockaddr_in6>.size
      case .unix(let path):
        let address = base.assumingMemoryBound(to: sockaddr_un.self)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.pointee.sun_path) else { return nil }
        address.pointee.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.pointee.sun_path) { pathBytes in
          for (index, byte) in bytes.enumerated() { pathBytes[index] = byte }
          pathBytes[bytes.count] = 0
        }
        return MemoryLayout<sa_family_t>.size + bytes.count + 1
      }
    }
    return length.map { (storage, socklen_t($0)) }
  }

  public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool { lhs.kind == rhs.kind }
  public func hash(into hasher: inout Hasher) { hasher.combine(kind) }

  private static func describe(_ storage: sockaddr_storage) -> Kind {
    var copy = storage
    return withUnsafeBytes(of: &copy) { raw -> Kind in
      let base = raw.baseAddress!
      switch Int32(storage.ss_family) {
      case AF_INET:
        var address = base.assumingMemoryBound(to: sockaddr_in.self).pointee
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(text.count))
        return .ipv4(
          String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
          port: Int(UInt16(bigEndian: address.sin_port)))
      case AF_INET6:
        var address = base.assumingMemoryBound(to: sockaddr_in6.self).pointee
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address.sin6_addr, &text, socklen_t(text.count))
        return .ipv6(
          String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
          port: Int(UInt16(bigEndian: address.sin6_port)))
      case AF_UNIX:
        let address = base.assumingMemoryBound(to: sockaddr_un.self)
        let path = withUnsafeBytes(of: address.pointee.sun_path) { bytes in
          String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .unix(path)
      default:
        return .unix("?")
      }
    }
  }
}
