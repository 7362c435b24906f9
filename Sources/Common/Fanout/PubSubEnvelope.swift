/// How a message travels between processes on a shared backend: the publishing hub's identifier and its sequence
/// number (so that receivers skip their own messages and notice gaps), the message type and the payload.
///
/// Layout: `WSP1` (4 bytes), the publisher's identifier (16 bytes), the sequence number (8 bytes, big-endian), the
/// type (1: text, 2: binary), then the payload.
package struct PubSubEnvelope: Sendable, Hashable {
  /// The publishing hub's random identifier.
  package var publisher: [UInt8]
  /// 1 for the publisher's first message, then one more per message.
  package var sequence: UInt64
  /// The message.
  package var message: TopicMessage

  static let magic: [UInt8] = Array("WSP1".utf8)
  static let headerSize = 4 + 16 + 8 + 1

  /// An envelope.
  package init(publisher: [UInt8], sequence: UInt64, message: TopicMessage) {
    self.publisher = publisher
    self.sequence = sequence
    self.message = message
  }

  /// The bytes on the wire.
  package func encoded() -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(Self.headerSize + message.payload.count)
    bytes.append(contentsOf: Self.magic)
    bytes.append(contentsOf: publisher.prefix(16))
    if publisher.count < 16 { bytes.append(contentsOf: repeatElement(0, count: 16 - publisher.count)) }
    for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: sequence >> shift)) }
    bytes.append(message.type == .text ? 1 : 2)
    bytes.append(contentsOf: message.payload)
    return bytes
  }

  /// Decodes `bytes`; `nil` when they are not an envelope (another program publishing on the channel).
  package init?(decoding bytes: [UInt8]) {
    guard bytes.count >= Self.headerSize, bytes[0..<4].elementsEqual(Self.magic) else { return nil }
    let type: FrameType
    switch bytes[28] {
    case 1: type = .text
    case 2: type = .binary
    default: return nil
    }
    var sequence: UInt64 = 0
    for index in 20..<28 { sequence = sequence << 8 | UInt64(bytes[index]) }
    self.init(
      publisher: Array(bytes[4..<20]), sequence: sequence,
      message: TopicMessage(type: type, payload: Array(bytes[Self.headerSize...])))
  }
}

/// The last sequence number seen from each publisher, to notice messages that never arrived (RFC-style "gaps") and
/// repeated ones. Bounded: at most ``capacity`` publishers are remembered.
package struct PublisherSequences: Sendable {
  /// What a received sequence number means.
  package enum Verdict: Sendable, Hashable {
    /// The next one (or the first from this publisher).
    case inOrder
    /// `missed` messages before this one never arrived.
    case gap(missed: UInt64)
    /// Already seen (or older): skip it.
    case repeated
  }

  /// The most publishers remembered (default 4,096); beyond it the table is cleared, and the next message of each
  /// counts as its first.
  package let capacity: Int
  private var last: [[UInt8]: UInt64] = [:]

  /// An empty table.
  package init(capacity: Int = 4096) { self.capacity = max(1, capacity) }

  /// Records `sequence` from `publisher`.
  package mutating func record(_ sequence: UInt64, from publisher: [UInt8]) -> Verdict {
    guard let previous = last[publisher] else {
      if last.count >= capacity { last.removeAll() }
      last[publisher] = sequence
      return .inOrder
    }
    guard sequence > previous else { return .repeated }
    last[publisher] = sequence
    return sequence == previous + 1 ? .inOrder : .gap(missed: sequence - previous - 1)
  }
}
