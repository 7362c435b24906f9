/// Bytes XORed with a masking key as they are read (RFC 6455 section 5.3), for appending a masked copy to an array
/// in one pass: `Array.append(contentsOf:)` hands the array's spare capacity to `_copyContents(initializing:)`,
/// which masks straight into it with 16-byte vectors. Appending the payload and then masking it in place costs a
/// second pass (docs/decisions/0009).
///
/// The source memory must stay valid while the sequence is used.
package struct MaskedBytes: Sequence {
  @usableFromInline let source: UnsafeRawBufferPointer
  @usableFromInline let key: MaskingKey
  @usableFromInline let phase: Int

  /// The bytes of `source` masked with `key`, as if `source` started at payload offset `phase` of its frame.
  @inlinable
  package init(_ source: UnsafeRawBufferPointer, key: MaskingKey, phase: Int = 0) {
    self.source = source
    self.key = key
    self.phase = phase
  }

  /// The number of bytes: all of them are known in advance.
  @inlinable package var underestimatedCount: Int { source.count }

  /// Masks one byte at a time (used only for bytes past the space `_copyContents(initializing:)` was given).
  package struct Iterator: IteratorProtocol {
    @usableFromInline let bytes: MaskedBytes
    @usableFromInline var index: Int

    @inlinable init(bytes: MaskedBytes, index: Int) {
      self.bytes = bytes
      self.index = index
    }

    /// The next masked byte.
    @inlinable
    package mutating func next() -> UInt8? {
      guard index < bytes.source.count else { return nil }
      defer { index += 1 }
      return bytes.source[index] ^ bytes.key[bytes.phase + index]
    }
  }

  /// An iterator from the first byte.
  @inlinable
  package func makeIterator() -> Iterator { Iterator(bytes: self, index: 0) }

  /// Writes as many masked bytes as fit into `buffer` in one vectorized pass.
  @inlinable
  package func _copyContents(initializing buffer: UnsafeMutableBufferPointer<UInt8>) -> (Iterator, Int) {
    let count = Swift.min(buffer.count, source.count)
    if count > 0, let destination = buffer.baseAddress {
      Masking.apply(
        key, phase: phase, from: UnsafeRawBufferPointer(rebasing: source[..<count]),
        to: UnsafeMutableRawPointer(destination))
    }
    return (Iterator(bytes: self, index: count), count)
  }
}
