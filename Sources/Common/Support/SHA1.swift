/// SHA-1 (FIPS 180-4), in pure Swift, for the `Sec-WebSocket-Accept` key only.
///
/// RFC 6455 section 4.2.2 fixes SHA-1 for the accept key; it is not used for anything that needs collision
/// resistance, so a small portable implementation keeps the core free of platform crypto.
package enum SHA1 {
  /// The 20-byte digest of `message`.
  package static func hash(_ message: some Collection<UInt8>) -> [UInt8] {
    var h0: UInt32 = 0x6745_2301
    var h1: UInt32 = 0xEFCD_AB89
    var h2: UInt32 = 0x98BA_DCFE
    var h3: UInt32 = 0x1032_5476
    var h4: UInt32 = 0xC3D2_E1F0

    var data = Array(message)
    let bitLength = UInt64(data.count) &* 8
    data.append(0x80)
    while data.count % 64 != 56 { data.append(0) }
    for shift in stride(from: 56, through: 0, by: -8) {
      data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
    }

    var w = [UInt32](repeating: 0, count: 80)
    for chunk in stride(from: 0, to: data.count, by: 64) {
      for index in 0..<16 {
        let base = chunk + index * 4
        w[index] =
          UInt32(data[base]) << 24 | UInt32(data[base + 1]) << 16 | UInt32(data[base + 2]) << 8
          | UInt32(data[base + 3])
      }
      for index in 16..<80 {
        w[index] = rotateLeft(w[index - 3] ^ w[index - 8] ^ w[index - 14] ^ w[index - 16], 1)
      }
      var (a, b, c, d, e) = (h0, h1, h2, h3, h4)
      for index in 0..<80 {
        let f: UInt32
        let k: UInt32
        switch index {
        case 0..<20:
          f = (b & c) | (~b & d)
          k = 0x5A82_7999
        case 20..<40:
          f = b ^ c ^ d
          k = 0x6ED9_EBA1
        case 40..<60:
          f = (b & c) | (b & d) | (c & d)
          k = 0x8F1B_BCDC
        default:
          f = b ^ c ^ d
          k = 0xCA62_C1D6
        }
        let temp = rotateLeft(a, 5) &+ f &+ e &+ k &+ w[index]
        e = d
        d = c
        c = rotateLeft(b, 30)
        b = a
        a = temp
      }
      h0 &+= a
      h1 &+= b
      h2 &+= c
      h3 &+= d
      h4 &+= e
    }
    var digest: [UInt8] = []
    digest.reserveCapacity(20)
    for word in [h0, h1, h2, h3, h4] {
      digest.append(UInt8(truncatingIfNeeded: word >> 24))
      digest.append(UInt8(truncatingIfNeeded: word >> 16))
      digest.append(UInt8(truncatingIfNeeded: word >> 8))
      digest.append(UInt8(truncatingIfNeeded: word))
    }
    return digest
  }

  @inline(__always)
  private static func rotateLeft(_ value: UInt32, _ count: UInt32) -> UInt32 {
    (value << count) | (value >> (32 - count))
  }
}
