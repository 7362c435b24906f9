/// Base64 with the standard alphabet and padding (RFC 4648 section 4), for `Sec-WebSocket-Key` and
/// `Sec-WebSocket-Accept`.
package enum Base64 {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  /// The padded base64 text of `bytes`.
  package static func encode(_ bytes: some Collection<UInt8>) -> String {
    let input = Array(bytes)
    var output: [UInt8] = []
    output.reserveCapacity((input.count + 2) / 3 * 4)
    var index = 0
    while index + 3 <= input.count {
      let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
      output.append(alphabet[Int(value >> 18 & 63)])
      output.append(alphabet[Int(value >> 12 & 63)])
      output.append(alphabet[Int(value >> 6 & 63)])
      output.append(alphabet[Int(value & 63)])
      index += 3
    }
    let rest = input.count - index
    if rest > 0 {
      let value = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
      output.append(alphabet[Int(value >> 18 & 63)])
      output.append(alphabet[Int(value >> 12 & 63)])
      output.append(rest == 2 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
      output.append(UInt8(ascii: "="))
    }
    return String(decoding: output, as: UTF8.self)
  }

  /// The bytes of strictly formed, padded base64 text, or `nil` when `text` is not (wrong length, a character
  /// outside the alphabet, misplaced padding, or non-zero bits in the padding).
  package static func decode(_ text: some StringProtocol) -> [UInt8]? {
    let input = Array(text.utf8)
    guard input.count % 4 == 0 else { return nil }
    var output: [UInt8] = []
    output.reserveCapacity(input.count / 4 * 3)
    var index = 0
    while index < input.count {
      let isLast = index + 4 == input.count
      var values: [UInt32] = []
      var padding = 0
      for position in 0..<4 {
        let char = input[index + position]
        if char == UInt8(ascii: "=") {
          // Padding only in the last quantum, only in its last two positions, and only trailing.
          guard isLast, position >= 2 else { return nil }
          padding += 1
          values.append(0)
        } else {
          guard padding == 0, let value = sextet(char) else { return nil }
          values.append(value)
        }
      }
      let value = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3]
      output.append(UInt8(truncatingIfNeeded: value >> 16))
      if padding < 2 { output.append(UInt8(truncatingIfNeeded: value >> 8)) }
      if padding < 1 { output.append(UInt8(truncatingIfNeeded: value)) }
      // Canonical form: the bits under the padding are zero.
      if padding == 1, value & 0xFF != 0 { return nil }
      if padding == 2, value & 0xFFFF != 0 { return nil }
      index += 4
    }
    return output
  }

  private static func sextet(_ char: UInt8) -> UInt32? {
    switch char {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(char - UInt8(ascii: "A"))
    case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(char - UInt8(ascii: "a") + 26)
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(char - UInt8(ascii: "0") + 52)
    case UInt8(ascii: "+"): 62
    case UInt8(ascii: "/"): 63
    default: nil
    }
  }
}
