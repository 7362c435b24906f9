import CWispSystem
import Glibc
import WispCommon

/// The kernel's CSPRNG through `getrandom(2)`, a whole buffer per call. The standard library's generator makes one
/// system call per 8 bytes, too many for refilling the client's masking keys 1 KiB at a time
/// (docs/decisions/0008).
package struct GetrandomSecureRandom: SecureRandomSource {
  /// Creates the source; it has no state.
  package init() {}

  /// Fills `buffer`; blocks only before the kernel's pool is first initialized (early boot).
  package func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    var offset = 0
    while offset < buffer.count {
      let count = getrandom(buffer.baseAddress! + offset, buffer.count - offset, 0)
      if count > 0 {
        offset += count
      } else if count < 0 && errno != EINTR {
        // ENOSYS (kernels before 3.17) and nothing else is documented for these arguments: fall back.
        SystemSecureRandom().fill(UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]))
        return
      }
    }
  }
}
