/// permessage-deflate on one connection (RFC 7692 sections 6 and 7.2): compresses outgoing messages, decompresses
/// incoming ones, with the negotiated window and context-takeover rules in each direction. Used only on the
/// connection's executor (hence `@unchecked Sendable`).
final class PerMessageDeflateExtension: WebSocketExtension, @unchecked Sendable {
  let name = PerMessageDeflateParameters.name
  let reservedBits: UInt8 = 0x40

  private let config: PerMessageDeflateConfig
  private let compressWindowBits: Int
  private let resetsCompressor: Bool
  private let resetsDecompressor: Bool
  private var compressor: (any DeflateCompressor)?
  private var decompressor: (any DeflateDecompressor)?
  private var compressingMessage = false
  private var decompressingMessage = false

  /// The empty stored block that a sync flush ends with, removed from and restored to each message (7.2.1/7.2.2).
  static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

  init(config: PerMessageDeflateConfig, compressWindowBits: Int, resetsCompressor: Bool, resetsDecompressor: Bool) {
    self.config = config
    self.compressWindowBits = compressWindowBits
    self.resetsCompressor = resetsCompressor
    self.resetsDecompressor = resetsDecompressor
  }

  /// Compresses a message frame by frame as one DEFLATE stream: RSV1 on the first frame only (7.2.3.1), the tail
  /// removed from the last.
  func processOutgoing(_ frame: Frame, startsMessage: Bool) throws -> Frame {
    if startsMessage {
      compressingMessage = config.compressionPredicates.allSatisfy { $0(frame) }
    }
    guard compressingMessage else { return frame }
    if compressor == nil {
      compressor = try config.codec.makeCompressor(windowBits: compressWindowBits, level: config.compressionLevel)
    }
    var payload = try compressor!.compressAndSyncFlush(frame.data)
    if frame.fin {
      // RFC 7692 section 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
      if payload.suffix(4).elementsEqual(Self.tail) { payload.removeLast(4) }
      if resetsCompressor { compressor!.reset() }
      compressingMessage = false
    }
    return Frame(unchecked: frame.fin, frame.frameType, payload, startsMessage, frame.rsv2, frame.rsv3)
  }

  /// The parameters that determine this extension's compressed bytes when every message starts with a fresh
  /// compressor (no context takeover in our sending direction, RFC 7692 section 7.1.1): connections with equal keys
  /// can share one compression of a message (fan-out). `nil` with context takeover: each message depends on the ones
  /// before it on this connection.
  var sharedCompressionKey: SharedCompressionKey? {
    guard resetsCompressor else { return nil }
    return SharedCompressionKey(
      windowBits: compressWindowBits, level: config.compressionLevel,
      codec: ObjectIdentifier(type(of: config.codec)))
  }

  /// Whether this connection's predicates compress a whole message `frame` (``PerMessageDeflateConfig/compressIf(_:)``).
  func compresses(_ frame: Frame) -> Bool {
    config.compressionPredicates.allSatisfy { $0(frame) }
  }

  /// Compresses one whole message with this connection's compressor, tail removed, and resets the compressor; for a
  /// shared encoding (only meaningful when ``sharedCompressionKey`` is not `nil`). Used on the connection's executor.
  func compressWholeMessage(_ payload: [UInt8]) throws -> [UInt8] {
    if compressor == nil {
      compressor = try config.codec.makeCompressor(windowBits: compressWindowBits, level: config.compressionLevel)
    }
    var compressed = try compressor!.compressAndSyncFlush(payload)
    if compressed.suffix(4).elementsEqual(Self.tail) { compressed.removeLast(4) }
    compressor!.reset()
    return compressed
  }

  /// Decompresses the frames of a message whose first frame has RSV1, with the inflated size bounded by `limit`.
  func processIncoming(_ frame: Frame, startsMessage: Bool, limit: Int) throws(ProtocolViolation) -> Frame {
    if startsMessage {
      decompressingMessage = frame.rsv1
    } else if frame.rsv1 {
      // 7.2.3.1 via RFC 6455 5.2: RSV1 means "compressed" on the first frame of a message only.
      throw .extensionFailure("permessage-deflate: RSV1 set on a continuation frame", code: .protocolError)
    }
    guard decompressingMessage else { return frame }
    // The session's message limit and Ktor's per-frame `maxInflatedFrameSize`, whichever is smaller: inflation
    // stops there (a bomb gets 1009 before it is inflated past the cap).
    let limit = min(limit, config.maxInflatedFrameSize ?? Int.max)
    var output: [UInt8] = []
    do {
      if decompressor == nil { decompressor = try config.codec.makeDecompressor(windowBits: 15) }
      try decompressor!.decompress(frame.data, into: &output, limit: limit)
      if frame.fin {
        // 7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload of the message."
        try decompressor!.decompress(Self.tail, into: &output, limit: limit)
        if resetsDecompressor { decompressor!.reset() }
        decompressingMessage = false
      }
    } catch let error as DeflateLimitExceeded {
      throw .messageTooBig(size: UInt64(error.limit) + 1, limit: error.limit)
    } catch {
      throw .extensionFailure("permessage-deflate: \(error)", code: .invalidPayload)
    }
    return Frame(unchecked: frame.fin, frame.frameType, output, false, frame.rsv2, frame.rsv3)
  }
}
