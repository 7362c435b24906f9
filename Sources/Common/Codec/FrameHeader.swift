/// The header of a frame on the wire (RFC 6455 section 5.2): 2 to 14 bytes before the payload.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-------+-+-------------+-------------------------------+
/// |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
/// |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
/// |N|V|V|V|       |S|             |   (if payload len==126/127)   |
/// | |1|2|3|       |K|             |                               |
/// ```
public struct FrameHeader: Sendable, Hashable {
  /// The largest header: 2 bytes, 8 bytes of extended length, 4 bytes of masking key.
  public static let maxSize = 14

  /// `true` on the final fragment of a message.
  public var fin: Bool
  /// The RSV1-3 bits in their header positions (`0x40`, `0x20`, `0x10`).
  public var reservedBits: UInt8
  /// The opcode.
  public var opcode: Opcode
  /// The masking key; present on every client-to-server frame and on no server-to-client frame.
  public var maskingKey: MaskingKey?
  /// The payload length in bytes.
  public var payloadLength: Int

  /// Creates a header.
  public init(fin: Bool, reservedBits: UInt8 = 0, opcode: Opcode, maskingKey: MaskingKey?, payloadLength: Int) {
    self.fin = fin
    self.reservedBits = reservedBits & 0x70
    self.opcode = opcode
    self.maskingKey = maskingKey
    self.payloadLength = payloadLength
  }

  /// The number of bytes ``encode(into:)`` writes, using the minimal length encoding.
  @inlinable public var encodedSize: Int {
    let lengthBytes = payloadLength < 126 ? 0 : (payloadLength <= 0xFFFF ? 2 : 8)
    return 2 + lengthBytes + (maskingKey == nil ? 0 : 4)
  }

  /// Appends the header to `output`, with the minimal length encoding ("the minimal number of bytes MUST be used
  /// to encode the length", RFC 6455 section 5.2).
  @inlinable public func encode(into output: inout [UInt8]) {
    output.append((fin ? 0x80 : 0) | reservedBits | opcode.rawValue)
    let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
    if payloadLength < 126 {
      output.append(maskBit | UInt8(truncatingIfNeeded: payloadLength))
    } else if payloadLength <= 0xFFFF {
      output.append(maskBit | 126)
      output.append(UInt8(truncatingIfNeeded: payloadLength >> 8))
      output.append(UInt8(truncatingIfNeeded: payloadLength))
    } else {
      output.append(maskBit | 127)
      let length = UInt64(payloadLength)
      for shift in stride(from: 56, through: 0, by: -8) {
        output.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
      }
    }
    if let key = maskingKey {
      output.append(key.b0)
      output.append(key.b1)
      output.append(key.b2)
      output.append(key.b3)
    }
  }
}
