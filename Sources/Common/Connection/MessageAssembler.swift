/// Joins the fragments of a message into one whole message, with a size limit and incremental UTF-8 validation
/// of text (RFC 6455 sections 5.4 and 8.1).
///
/// An unfragmented message passes through without a copy.
package struct MessageAssembler: Sendable {
  /// The largest message, in bytes, that may be assembled; larger messages fail with 1009.
  package var maxMessageSize: Int

  private var type: FrameType?
  private var buffer: [UInt8] = []
  private var firstFrameReservedBits: UInt8 = 0

  /// Creates an assembler.
  package init(maxMessageSize: Int) {
    self.maxMessageSize = max(0, maxMessageSize)
  }

  /// The bytes of the message in progress so far.
  package var bufferedCount: Int { buffer.count }

  /// Adds a data fragment whose type the `FragmentTracker` resolved. Returns the whole message when `fin` is
  /// set. The returned frame keeps the RSV bits of the message's first frame (RFC 7692 marks a compressed
  /// message there).
  package mutating func append(
    type: FrameType, fin: Bool, reservedBits: UInt8, payload: consuming [UInt8]
  ) throws(ProtocolViolation) -> Frame? {
    if self.type == nil {
      if fin {
        guard payload.count <= maxMessageSize else {
          throw .messageTooBig(size: UInt64(payload.count), limit: maxMessageSize)
        }
        return Frame(
          unchecked: true, type, consume payload, reservedBits & 0x40 != 0, reservedBits & 0x20 != 0,
          reservedBits & 0x10 != 0)
      }
      self.type = type
      firstFrameReservedBits = reservedBits
      buffer.removeAll(keepingCapacity: true)
    }
    let total = UInt64(buffer.count) + UInt64(payload.count)
    guard total <= UInt64(maxMessageSize) else { throw .messageTooBig(size: total, limit: maxMessageSize) }
    buffer.append(contentsOf: payload)
    guard fin else { return nil }
    let bits = firstFrameReservedBits
    let message = Frame(unchecked: true, type, buffer, bits & 0x40 != 0, bits & 0x20 != 0, bits & 0x10 != 0)
    self.type = nil
    buffer = []
    return message
  }
}
