/// The 32-bit masking key of a client-to-server frame (RFC 6455 section 5.3), in wire order.
package struct MaskingKey: Sendable, Hashable, CustomStringConvertible {
  /// The four key bytes in the order they appear on the wire.
  package let b0: UInt8, b1: UInt8, b2: UInt8, b3: UInt8

  /// Creates a key from its four wire bytes.
  package init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
    (self.b0, self.b1, self.b2, self.b3) = (b0, b1, b2, b3)
  }

  /// The key byte that masks payload byte `index` ("octet i of the transformed data is the XOR of octet i of the
  /// original data with octet at index i modulo 4 of the masking key", RFC 6455 section 5.3).
  @inlinable package subscript(index: Int) -> UInt8 {
    switch index & 3 {
    case 0: b0
    case 1: b1
    case 2: b2
    default: b3
    }
  }

  /// Sixteen bytes of key, starting at key byte `phase`, as a vector whose memory layout matches the payload.
  @inlinable func vector(phase: Int) -> SIMD16<UInt8> {
    let k0 = self[phase]
    let k1 = self[phase + 1]
    let k2 = self[phase + 2]
    let k3 = self[phase + 3]
    return SIMD16(k0, k1, k2, k3, k0, k1, k2, k3, k0, k1, k2, k3, k0, k1, k2, k3)
  }

  /// The key as four hex bytes, for logs.
  package var description: String {
    [b0, b1, b2, b3].map { String($0, radix: 16) }.joined(separator: " ")
  }
}

/// Masking and unmasking: the same XOR transform in both directions (RFC 6455 section 5.3).
package enum Masking {
  /// XORs `buffer` in place with `key`, as if the buffer started at payload offset `phase` of its frame.
  ///
  /// Works 64 bytes at a time with 16-byte vectors, then 16, then single bytes; `phase` lets a frame's payload be
  /// unmasked in pieces as they arrive.
  @inlinable
  package static func apply(_ key: MaskingKey, phase: Int = 0, to buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    apply(key, phase: phase, from: UnsafeRawBufferPointer(buffer), to: base)
  }

  /// Writes `source` XORed with `key` to `destination` (`source.count` bytes; the two may be the same memory): a
  /// masked copy in one pass, instead of a copy and then a pass in place.
  @inlinable
  package static func apply(
    _ key: MaskingKey, phase: Int = 0, from source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer
  ) {
    guard let base = source.baseAddress else { return }
    let count = source.count
    let pattern = key.vector(phase: phase)
    var offset = 0
    while offset &+ 64 <= count {
      let a = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
      let b = base.loadUnaligned(fromByteOffset: offset &+ 16, as: SIMD16<UInt8>.self)
      let c = base.loadUnaligned(fromByteOffset: offset &+ 32, as: SIMD16<UInt8>.self)
      let d = base.loadUnaligned(fromByteOffset: offset &+ 48, as: SIMD16<UInt8>.self)
      destination.storeBytes(of: a ^ pattern, toByteOffset: offset, as: SIMD16<UInt8>.self)
      destination.storeBytes(of: b ^ pattern, toByteOffset: offset &+ 16, as: SIMD16<UInt8>.self)
      destination.storeBytes(of: c ^ pattern, toByteOffset: offset &+ 32, as: SIMD16<UInt8>.self)
      destination.storeBytes(of: d ^ pattern, toByteOffset: offset &+ 48, as: SIMD16<UInt8>.self)
      offset &+= 64
    }
    while offset &+ 16 <= count {
      let a = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
      destination.storeBytes(of: a ^ pattern, toByteOffset: offset, as: SIMD16<UInt8>.self)
      offset &+= 16
    }
    while offset < count {
      let byte = base.load(fromByteOffset: offset, as: UInt8.self)
      destination.storeBytes(of: byte ^ pattern[offset & 15], toByteOffset: offset, as: UInt8.self)
      offset &+= 1
    }
  }

  /// A masked copy of `source` as a new array: in one pass when it is large.
  @inlinable
  package static func maskedCopy(_ key: MaskingKey, phase: Int = 0, of source: UnsafeRawBufferPointer) -> [UInt8] {
    if source.count < 4096 {
      // Copy, then mask in place: `Array(unsafeUninitializedCapacity:)` reaches an unspecialized allocation in the
      // standard library that looks up the array's type metadata on every call, which costs more than a second
      // pass over a small payload (docs/decisions/0009).
      var bytes = [UInt8](source)
      bytes.withUnsafeMutableBytes { apply(key, phase: phase, to: $0) }
      return bytes
    }
    return [UInt8](unsafeUninitializedCapacity: source.count) { buffer, initialized in
      if let destination = buffer.baseAddress { apply(key, phase: phase, from: source, to: destination) }
      initialized = source.count
    }
  }

  /// XORs `bytes[range]` in place with `key`, the range starting at payload offset `phase`.
  @inlinable
  package static func apply(_ key: MaskingKey, phase: Int = 0, to bytes: inout [UInt8], range: Range<Int>) {
    bytes.withUnsafeMutableBytes { raw in
      apply(key, phase: phase, to: UnsafeMutableRawBufferPointer(rebasing: raw[range]))
    }
  }
}
