import Synchronization

/// One published message as it waits in subscribers' queues: encoded once as an unmasked frame for every plain
/// subscriber, and compressed at most once per ``SharedCompressionKey`` for the subscribers whose permessage-deflate
/// starts every message with a fresh compressor (RFC 7692 section 7.1.1.1, `server_no_context_takeover`): their
/// compressed bytes depend only on the payload and the compressor's parameters.
final class PublishedMessage: Sendable {
  let message: TopicMessage
  /// The frame's bytes for subscribers without a payload-transforming extension: header and payload.
  let plainEncoding: [UInt8]
  /// Compressed frames (RSV1 set) by compressor parameters, filled by the first subscriber that needs one.
  private let compressed = Mutex<[SharedCompressionKey: [UInt8]]>([:])
  private let counters: FanoutCounters

  init(_ message: TopicMessage, counters: FanoutCounters) {
    self.message = message
    self.counters = counters
    var bytes: [UInt8] = []
    bytes.reserveCapacity(message.payload.count + 10)
    FrameEncoder.encode(
      fin: true, opcode: message.type.opcode, reservedBits: 0, payload: message.payload, maskingKey: nil, into: &bytes)
    plainEncoding = bytes
  }

  /// The payload bytes a subscriber's queue counts for this message.
  var cost: Int { message.payload.count }

  /// The compressed frame for `key`, made by `compress` (a subscriber's own compressor, on its loop) the first
  /// time, exactly once: the compression runs under this message's lock, so a subscriber on another loop that needs
  /// the same frame meanwhile waits for it (it would otherwise spend the same time compressing it again).
  func compressedEncoding(for key: SharedCompressionKey, compress: () throws -> [UInt8]) rethrows -> [UInt8] {
    try compressed.withLock { cache in
      if let existing = cache[key] { return existing }
      let payload = try compress()
      counters.compressed.add(1, ordering: .relaxed)
      var bytes: [UInt8] = []
      bytes.reserveCapacity(payload.count + 10)
      FrameEncoder.encode(
        fin: true, opcode: message.type.opcode, reservedBits: 0x40, payload: payload, maskingKey: nil, into: &bytes)
      cache[key] = bytes
      return bytes
    }
  }
}
