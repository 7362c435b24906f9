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
package struct FrameHeader: Sendable, Hashable {
  /// The largest header: 2 bytes, 8 bytes of extended length, 4 bytes of masking key.
  package static let maxSize = 14

  /// `true` on the final fragment of a message.
  package var fin: Bool
  /// The RSV1-3 bits in their header positions (`0x40`, `0x20`, `0x10`).
  package var reservedBits: UInt8
  /// The opcode.
  package var opcode: Opcode
  /// The masking key; present on every client-to-server frame and on no server-to-client frame.
  package var maskingKey: MaskingKey?
  /// The payload length in bytes.
  package var payloadLength: Int

  /// Creates a header.
  package init(fin: Bool, reservedBits: UInt8 = 0, opcode: Opcode, maskingKey: MaskingKey?, payloadLength: Int) {
    self.fin = fin
    self.reservedBits = reservedBits & 0x70
    self.opcode = opcode
    self.maskingKey = maskingKey
    self.payloadLength = payloadLength
  }

  /// The number of bytes ``encode(into:)`` writes, using the minimal length encoding.
  @inlinable package var encodedSize: Int {
    let lengthBytes = payloadLength < 126 ? 0 : (payloadLength <= 0xFFFF ? 2 : 8)
    return 2 + lengthBytes + (maskingKey == nil ? 0 : 4)
  }

  /// Appends the header to `output`, with the minimal length encoding ("the minimal number of bytes MUST be used
  /// to encode the length", RFC 6455 section 5.2).
  @inlinable package func encode(into output: inout [UInt8]) {
    withUnsafeTemporaryAllocation(byteCount: Self.maxSize, alignment: 8) { buffer in
      let size = write(to: buffer.baseAddress.unsafelyUnwrapped)
      output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<size]))
    }
  }

  /// Writes the header at `destination`, which must have room for ``encodedSize`` bytes (at most ``maxSize``), and
  /// returns the number of bytes written: one append of the whole header (or frame) instead of one per byte, each
  /// with the array's uniqueness and capacity checks.
  @inlinable package func write(to destination: UnsafeMutableRawPointer) -> Int {
    destination.storeBytes(of: (fin ? 0x80 : 0) | reservedBits | opcode.rawValue, as: UInt8.self)
    let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
    var size: Int
    if payloadLength < 126 {
      destination.storeBytes(of: maskBit | UInt8(truncatingIfNeeded: payloadLength), toByteOffset: 1, as: UInt8.self)
      size = 2
    } else if payloadLength <= 0xFFFF {
      destination.storeBytes(of: maskBit | 126, toByteOffset: 1, as: UInt8.self)
      destination.storeBytes(of: UInt16(truncatingIfNeeded: payloadLength).bigEndian, toByteOffset: 2, as: UInt16.self)
      size = 4
    } else {
      destination.storeBytes(of: maskBit | 127, toByteOffset: 1, as: UInt8.self)
      destination.storeBytes(of: UInt64(payloadLength).bigEndian, toByteOffset: 2, as: UInt64.self)
      size = 10
    }
    if let key = maskingKey {
      destination.storeBytes(of: key.b0, toByteOffset: size, as: UInt8.self)
      destination.storeBytes(of: key.b1, toByteOffset: size &+ 1, as: UInt8.self)
      destination.storeBytes(of: key.b2, toByteOffset: size &+ 2, as: UInt8.self)
      destination.storeBytes(of: key.b3, toByteOffset: size &+ 3, as: UInt8.self)
      size &+= 4
    }
    return size
  }
}
