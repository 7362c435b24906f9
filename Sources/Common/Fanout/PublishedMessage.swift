import Synchronization

/// One published message as it waits in subscribers' queues: encoded once as an unmasked frame for every plain
/// subscriber, and compressed at most once per ``SharedCompressionKey`` for the subscribers whose permessage-deflate
/// starts every message with a fresh compressor (RFC 7692 section 7.1.1.1, `server_no_context_takeover`): their
/// compressed bytes depend only on the payload and the compressor's parameters. With an offset, subscribers in
/// ``TopicFraming/offsetPrefixed`` framing share the prefixed frame the same way.
final class PublishedMessage: Sendable {
  let message: TopicMessage
  /// The message's place in its topic's history; `nil` without a history (or for an in-band notice).
  let offset: TopicOffset?
  /// The frame's bytes for subscribers without a payload-transforming extension: header and payload.
  let plainEncoding: [UInt8]
  /// Other encodings (prefixed, compressed; RSV1 set when compressed), filled by the first subscriber that needs
  /// one.
  private let encodings = Mutex<[EncodingKey: [UInt8]]>([:])
  private let counters: FanoutCounters

  private struct EncodingKey: Hashable {
    var framing: TopicFraming
    var compression: SharedCompressionKey?
  }

  init(_ message: TopicMessage, offset: TopicOffset? = nil, counters: FanoutCounters) {
    self.message = message
    self.offset = offset
    self.counters = counters
    plainEncoding = Self.frame(message.type, message.payload, reservedBits: 0)
  }

  /// The payload bytes a subscriber's queue counts for this message.
  var cost: Int { message.payload.count }

  /// The framing a subscriber that asked for `framing` gets: plain when the message has no offset.
  func effectiveFraming(_ framing: TopicFraming) -> TopicFraming { offset == nil ? .plain : framing }

  /// The payload in `framing` (the shared array when plain).
  func payload(in framing: TopicFraming) -> [UInt8] {
    guard let offset, framing != .plain else { return message.payload }
    return framing.payload(of: message, at: offset)
  }

  /// The uncompressed frame in `framing`.
  func encoding(in framing: TopicFraming) -> [UInt8] {
    let framing = effectiveFraming(framing)
    if framing == .plain { return plainEncoding }
    return encodings.withLock { cache in
      let key = EncodingKey(framing: framing, compression: nil)
      if let existing = cache[key] { return existing }
      let bytes = Self.frame(message.type, payload(in: framing), reservedBits: 0)
      cache[key] = bytes
      return bytes
    }
  }

  /// The compressed frame for `key` in `framing`, made by `compress` (a subscriber's own compressor, on its loop)
  /// the first time, exactly once: the compression runs under this message's lock, so a subscriber on another loop
  /// that needs the same frame meanwhile waits for it (it would otherwise spend the same time compressing it again).
  func compressedEncoding(
    for key: SharedCompressionKey, in framing: TopicFraming, compress: ([UInt8]) throws -> [UInt8]
  ) rethrows -> [UInt8] {
    let framing = effectiveFraming(framing)
    return try encodings.withLock { cache in
      let cacheKey = EncodingKey(framing: framing, compression: key)
      if let existing = cache[cacheKey] { return existing }
      let compressed = try compress(payload(in: framing))
      counters.compressed.add(1, ordering: .relaxed)
      let bytes = Self.frame(message.type, compressed, reservedBits: 0x40)
      cache[cacheKey] = bytes
      return bytes
    }
  }

  private static func frame(_ type: FrameType, _ payload: [UInt8], reservedBits: UInt8) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(payload.count + 10)
    FrameEncoder.encode(
      fin: true, opcode: type.opcode, reservedBits: reservedBits, payload: payload, maskingKey: nil, into: &bytes)
    return bytes
  }
}
