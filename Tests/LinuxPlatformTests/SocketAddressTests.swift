import CWispSystem
import Glibc
import Testing

@testable import WispLinuxPlatform

/// `SocketAddress` keeps the address's text, not its `sockaddr` (memory per idle session, issue 34): the `sockaddr`
/// it rebuilds must be the one it was made from.
@Suite("Socket addresses")
struct SocketAddressTests {
  @Test(
    "an address rebuilds the sockaddr it was made from: IPv4, IPv6, Unix",
    arguments: [("127.0.0.1", 8080), ("10.1.2.3", 1), ("::1", 443), ("2001:db8::17", 65535), ("fe80::1", 9)])
  func ipRoundTrip(host: String, port: Int) throws {
    let address = try #require(SocketAddress(ipLiteral: host, port: port))
    let rebuilt = address.withSockAddr { pointer, length in
      var storage = sockaddr_storage()
      withUnsafeMutableBytes(of: &storage) { raw in
        raw.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length)))
      }
      return (SocketAddress(storage: storage, length: length), Int(length))
    }
    #expect(rebuilt.0 == address)
    #expect(rebuilt.0.port == port)
    let expectedLength = host.contains(":") ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
    #expect(rebuilt.1 == expectedLength)
    #expect(address.family == (host.contains(":") ? AF_INET6 : AF_INET))
  }

  @Test("an IPv6 scope (a link-local address's interface) survives the round trip")
  func ipv6Scope() throws {
    var storage = sockaddr_storage()
    withUnsafeMutableBytes(of: &storage) { raw in
      let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
      address.pointee.sin6_family = sa_family_t(AF_INET6)
      address.pointee.sin6_port = in_port_t(UInt16(9000).bigEndian)
      address.pointee.sin6_scope_id = 3
      _ = inet_pton(AF_INET6, "fe80::1", &address.pointee.sin6_addr)
    }
    let address = SocketAddress(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
    #expect(address.description == "[fe80::1]:9000")
    let scope = address.withSockAddr { pointer, _ in
      pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_scope_id }
    }
    #expect(scope == 3)
  }

  @Test("a Unix socket path rebuilds with its length and terminating zero")
  func unixRoundTrip() throws {
    let path = "/tmp/wisp-address-test.sock"
    let address = try #require(SocketAddress(unixPath: path))
    let (rebuilt, length) = address.withSockAddr { pointer, length in
      var storage = sockaddr_storage()
      withUnsafeMutableBytes(of: &storage) { raw in
        raw.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length)))
      }
      return (SocketAddress(storage: storage, length: length), Int(length))
    }
    #expect(rebuilt.description == "unix:\(path)")
    #expect(length == MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
    #expect(address.family == AF_UNIX)
  }
}
