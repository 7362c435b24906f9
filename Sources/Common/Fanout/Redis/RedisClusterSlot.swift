/// The Redis Cluster slot of a key: CRC16 (XMODEM) of the key, or of its hash tag (the text between the first `{`
/// and the next `}`, when not empty), modulo 16,384 (Redis Cluster specification, "Keys distribution model").
package enum RedisClusterSlot {
  /// The number of slots.
  package static let count = 16_384

  /// The slot of `key`.
  package static func of(_ key: [UInt8]) -> Int {
    var hashed = key[...]
    if let open = key.firstIndex(of: UInt8(ascii: "{")),
      let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
    {
      hashed = key[(open + 1)..<close]
    }
    return Int(crc16(hashed) & 0x3FFF)
  }

  /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as the specification's reference code.
  package static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
    var crc: UInt16 = 0
    for byte in bytes {
      crc ^= UInt16(byte) << 8
      for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
    }
    return crc
  }

  /// A redirection in an error reply: `MOVED 3999 127.0.0.1:6381` or `ASK 3999 127.0.0.1:6381`.
  package struct Redirection: Sendable, Hashable {
    /// `true` for `ASK` (this one request only), `false` for `MOVED` (the slot's owner changed).
    package var isAsk: Bool
    /// The slot.
    package var slot: Int
    /// The node's host.
    package var host: String
    /// The node's port.
    package var port: Int

    /// Parses the text of an error reply; `nil` when it is not a redirection.
    package init?(_ error: String) {
      let fields = error.split(separator: " ")
      guard fields.count == 3, fields[0] == "MOVED" || fields[0] == "ASK", let slot = Int(fields[1]),
        (0..<RedisClusterSlot.count).contains(slot), let colon = fields[2].lastIndex(of: ":"),
        let port = Int(fields[2][fields[2].index(after: colon)...]), (1...65535).contains(port)
      else { return nil }
      isAsk = fields[0] == "ASK"
      self.slot = slot
      host = String(fields[2][..<colon])
      self.port = port
    }
  }
}
