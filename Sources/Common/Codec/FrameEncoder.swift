/// Encodes frames to wire bytes: header, then payload (masked while copied when a key is given).
package enum FrameEncoder {
  /// Appends one frame to `output`.
  ///
  /// - Parameters:
  ///   - fin: whether this is the last frame of its message.
  ///   - opcode: the frame's opcode.
  ///   - reservedBits: RSV1-3 as the bits of the first byte (`0x40` for RSV1); default none.
  ///   - payload: the application data, unmasked.
  ///   - output: where the header and the (masked) payload are appended.
  ///   - maskingKey: a fresh key for every client frame ("The masking key is a 32-bit value chosen at random by the
  ///     client... MUST pick a fresh masking key from the set of allowed 32-bit values", RFC 6455 section 5.3);
  ///     `nil` for server frames.
  @inlinable
  package static func encode(
    fin: Bool, opcode: Opcode, reservedBits: UInt8 = 0, payload: UnsafeRawBufferPointer,
    maskingKey: MaskingKey?, into output: inout [UInt8]
  ) {
    let header = FrameHeader(
      fin: fin, reservedBits: reservedBits, opcode: opcode, maskingKey: maskingKey, payloadLength: payload.count)
    #if compiler(>=6.2)
      // Header and payload (masked while copied) written straight into the output's spare capacity: one
      // uniqueness and capacity check of `output` per frame, no byte appended one at a time and no intermediate
      // copy (the 64 B echo path spent about 3 % of its time in those).
      let frameSize = header.encodedSize + payload.count
      output.append(addingCapacity: frameSize) { span in
        span.withUnsafeMutableBufferPointer { buffer, initialized in
          let base = UnsafeMutableRawPointer(buffer.baseAddress.unsafelyUnwrapped)
          let headerSize = header.write(to: base)
          if let key = maskingKey {
            Masking.apply(key, from: payload, to: base + headerSize)
          } else if let source = payload.baseAddress {
            (base + headerSize).copyMemory(from: source, byteCount: payload.count)
          }
          initialized = headerSize + payload.count
        }
      }
    #else
      output.reserveCapacity(output.count + header.encodedSize + payload.count)
      header.encode(into: &output)
      if let key = maskingKey {
        // Masked while copied, in one pass.
        output.append(contentsOf: MaskedBytes(payload, key: key))
      } else {
        output.append(contentsOf: payload)
      }
    #endif
  }

  /// Appends one frame whose payload is an array to `output`.
  @inlinable
  package static func encode(
    fin: Bool, opcode: Opcode, reservedBits: UInt8 = 0, payload: [UInt8], maskingKey: MaskingKey?,
    into output: inout [UInt8]
  ) {
    payload.withUnsafeBytes { bytes in
      encode(
        fin: fin, opcode: opcode, reservedBits: reservedBits, payload: bytes, maskingKey: maskingKey, into: &output)
    }
  }
}
