import CWispOpenSSL
import WispCommon

/// Turns OpenSSL's error state into typed ``TLSError`` values that say what failed.
enum OpenSSLErrors {
  /// Empties the thread's error queue before a TLS operation: "The current thread's error queue must be empty before
  /// the TLS/SSL I/O operation is attempted, or SSL_get_error() will not work reliably" (SSL_get_error(3)); other
  /// connections of the loop share the thread. Looks first: `SSL_get_error` itself asks `ERR_peek_error`, and
  /// `ERR_clear_error` wipes all 16 slots of the queue every time (1 % of the 64 B TLS echo server's time).
  @inline(__always) static func clearQueue() {
    if ERR_peek_error() != 0 { ERR_clear_error() }
  }

  /// Drains OpenSSL's thread-local error queue: the reason codes and one line of text.
  static func drain() -> (reasons: [Int32], text: String) {
    var reasons: [Int32] = []
    var messages: [String] = []
    while true {
      let code = ERR_get_error()
      if code == 0 { break }
      reasons.append(ERR_GET_REASON(code))
      var buffer = [CChar](repeating: 0, count: 256)
      ERR_error_string_n(code, &buffer, buffer.count)
      messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return (reasons, messages.joined(separator: "; "))
  }

  /// The queue's text, emptying it.
  static func drainQueue() -> String { drain().text }

  /// The typed error for a failed handshake or record operation on `ssl`.
  static func error(for ssl: OpaquePointer, host: String?) -> TLSError {
    let verify = Int32(SSL_get_verify_result(ssl))
    if verify != X509_V_OK {
      let text = String(cString: X509_verify_cert_error_string(Int(verify)))
      _ = drain()
      switch verify {
      case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
        return .certificateExpired(text)
      case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
        return .hostnameMismatch(host: host ?? "")
      default:
        return .untrustedCertificate(text)
      }
    }
    let (reasons, text) = drain()
    if reasons.contains(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
      || reasons.contains(SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
    {
      return .peerCertificateRequired
    }
    return .handshakeFailed(text.isEmpty ? "the connection closed during the TLS handshake" : text)
  }
}
