import CWispSystem
import Glibc
import WispCommon

/// errno values and their text.
enum Errno {
  /// `strerror`'s text for `code`.
  static func message(_ code: Int32) -> String {
    String(cString: strerror(code))
  }

  /// The transport error for a failed read or write.
  static func transportError(_ code: Int32, operation: String) -> TransportError {
    switch code {
    case ECONNRESET: .connectionReset
    case EPIPE: .brokenPipe
    case EBADF: .closed
    case ETIMEDOUT: .timedOut(operation: operation, limit: .zero)
    default: .system(operation: operation, errno: code, message: message(code))
    }
  }
}
