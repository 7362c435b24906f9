import CWispSystem
import Glibc
import WispCommon

/// Name resolution with `getaddrinfo`, run on the blocking pool, never on an event loop.
public enum Resolver {
  /// The addresses of `host` for TCP, in the order the system prefers (RFC 6724, as glibc sorts them). IP
  /// literals are returned without a lookup.
  public static func resolve(host: String, port: Int) async throws(TransportError) -> [SocketAddress] {
    if let literal = SocketAddress(ipLiteral: host, port: port) { return [literal] }
    let outcome = await BlockingWorkPool.shared.run { () -> Result<[SocketAddress], TransportError> in
      var hints = addrinfo()
      hints.ai_family = AF_UNSPEC
      hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
      hints.ai_flags = AI_ADDRCONFIG
      var result: UnsafeMutablePointer<addrinfo>?
      let status = getaddrinfo(host, String(port), &hints, &result)
      guard status == 0, let first = result else {
        let reason = status == EAI_SYSTEM ? Errno.message(errno) : String(cString: gai_strerror(status))
        return .failure(.nameResolutionFailed(host: host, reason: reason))
      }
      defer { freeaddrinfo(first) }
      var addresses: [SocketAddress] = []
      var cursor: UnsafeMutablePointer<addrinfo>? = first
      while let entry = cursor {
        if let address = entry.pointee.ai_addr,
          entry.pointee.ai_family == AF_INET || entry.pointee.ai_family == AF_INET6
        {
          var storage = sockaddr_storage()
          let length = Int(entry.pointee.ai_addrlen)
          withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: min(length, raw.count)))
          }
          let socketAddress = SocketAddress(storage: storage, length: entry.pointee.ai_addrlen)
          if !addresses.contains(socketAddress) { addresses.append(socketAddress) }
        }
        cursor = entry.pointee.ai_next
      }
      return addresses.isEmpty
        ? .failure(.nameResolutionFailed(host: host, reason: "no addresses")) : .success(addresses)
    }
    return try outcome.get()
  }
}
