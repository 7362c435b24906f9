/// The `Sec-WebSocket-Key` / `Sec-WebSocket-Accept` pair of the opening handshake (RFC 6455 sections 1.3, 4.1,
/// 4.2.2).
package enum WebSocketAccept {
  /// The GUID that RFC 6455 section 1.3 appends to the key.
  package static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

  /// The accept value for `key`: "the base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key| (as a
  /// string, not base64-decoded) with the string '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'" (RFC 6455 section 4.2.2).
  package static func value(forKey key: String) -> String {
    Base64.encode(SHA1.hash(Array((key + guid).utf8)))
  }

  /// A fresh key: "a randomly selected 16-byte value that has been base64-encoded" (RFC 6455 section 4.1).
  package static func makeKey(random: any SecureRandomSource = SystemSecureRandom()) -> String {
    Base64.encode(random.bytes(16))
  }

  /// Whether `key` is a valid `Sec-WebSocket-Key`: base64 that decodes to exactly 16 bytes (RFC 6455 section
  /// 4.2.1, point 5).
  package static func isValidKey(_ key: String) -> Bool {
    Base64.decode(key)?.count == 16
  }
}
