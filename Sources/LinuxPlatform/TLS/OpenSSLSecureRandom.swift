import CWispOpenSSL
import WispCommon

/// OpenSSL's CSPRNG (`RAND_bytes`: its DRBG, seeded and reseeded from the kernel, reseeded in a forked child) for the
/// client's masking keys and handshake nonces. RFC 6455 section 5.3: "The masking key needs to be unpredictable;
/// thus, the masking key MUST be derived from a strong source of entropy".
///
/// Why not `getrandom(2)` for every refill: the kernel's generator took 2.9 us per KiB here against OpenSSL's 0.8 us
/// (`RAND_bytes` with AES-NI, no system call), and a client at 64 B draws a key per message (docs/decisions/0034).
package struct OpenSSLSecureRandom: SecureRandomSource {
  /// Creates the source; OpenSSL keeps the state (one generator per thread).
  package init() {}

  /// Fills `buffer`; falls back to ``GetrandomSecureRandom`` if OpenSSL cannot (its generator failed to seed).
  package func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    var offset = 0
    while offset < buffer.count {
      let count = min(buffer.count - offset, 1 << 30)
      guard RAND_bytes(base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), Int32(count)) == 1 else {
        GetrandomSecureRandom().fill(UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]))
        return
      }
      offset += count
    }
  }
}
