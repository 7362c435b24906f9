/// An incremental frame decoder: feed it bytes split at any boundary, get whole frames out.
///
/// "Need more bytes" is a normal result (``Result/needMoreData``), never an error. Every header field is checked
/// as soon as the bytes that carry it have arrived, and the declared length is checked against
/// ``Configuration/maxFrameSize`` before any payload is buffered, so a peer cannot make the decoder allocate more
/// than the limit. The payload is copied once, from the caller's buffer into the frame, and unmasked in place
/// 16 bytes at a time.
package struct FrameDecoder: Sendable {
  /// What the decoder accepts.
  package struct Configuration: Sendable, Hashable {
    /// `true` at a server, which requires every frame to be masked; `false` at a client, which requires that no
    /// frame is masked (RFC 6455 section 5.1).
    package var expectsMaskedFrames: Bool
    /// The largest payload, in bytes, a single frame may declare; larger frames fail with 1009.
    package var maxFrameSize: Int
    /// The RSV bits (`0x40`, `0x20`, `0x10`) that negotiated extensions give a meaning; others fail with 1002.
    package var allowedReservedBits: UInt8

    /// Creates a configuration.
    package init(expectsMaskedFrames: Bool, maxFrameSize: Int, allowedReservedBits: UInt8 = 0) {
      self.expectsMaskedFrames = expectsMaskedFrames
      self.maxFrameSize = max(0, maxFrameSize)
      self.allowedReservedBits = allowedReservedBits & 0x70
    }
  }

  /// A complete frame: its header (the masking key already applied) and unmasked payload.
  package struct DecodedFrame: Sendable, Hashable {
    /// The frame's header as received.
    package var header: FrameHeader
    /// The unmasked payload.
    package var payload: [UInt8]
  }

  /// The outcome of one `decode(_:offset:)` call.
  package enum Result: Sendable, Hashable {
    /// A whole frame was decoded; more may follow in the same input.
    case frame(DecodedFrame)
    /// All input was consumed without completing a frame.
    case needMoreData
  }

  private enum Phase: Sendable {
    /// Reading a header; `headerBytes` holds what arrived so far when a header was split across inputs.
    case header
    /// Reading the payload of this frame; `payload` holds what arrived so far.
    case payload(FrameHeader)
  }

  /// The decoder's configuration; may change between frames (for example once extensions are negotiated).
  package var configuration: Configuration
  private var phase: Phase = .header
  private var headerBytes: [UInt8] = []
  private var payload: [UInt8] = []
  /// Where a large payload's storage comes from when a spare buffer is available; `nil` allocates every time.
  let recycler: LargeBufferRecycler?
  /// Where a payload under 64 KiB comes from when a spare buffer is available; `nil` allocates every time.
  let pool: PayloadBufferPool?

  /// Creates a decoder.
  ///
  /// - Parameters:
  ///   - configuration: the role's masking rule, the frame size limit and the RSV bits extensions allow.
  ///   - recycler: spare buffers for large payloads (the session passes the process's
  ///     `LargeBufferRecycler.shared`); `nil` (the default) allocates each payload.
  ///   - pool: spare buffers for payloads under 64 KiB (the session passes its event loop's
  ///     `PayloadPoolProviding.payloadPool`); `nil` (the default) allocates each payload. Use the decoder only on the pool's
  ///     executor.
  package init(configuration: Configuration, recycler: LargeBufferRecycler? = nil, pool: PayloadBufferPool? = nil) {
    self.configuration = configuration
    self.recycler = recycler
    self.pool = pool
  }

  /// The header and received payload of a frame whose payload is still arriving, so that a caller can inspect
  /// data early (for example to fail fast on invalid UTF-8, RFC 6455 section 8.1); `nil` between frames.
  package var partialFrame: (header: FrameHeader, payload: [UInt8])? {
    if case .payload(let header) = phase { return (header, payload) }
    return nil
  }

  /// Decodes from `input`, starting at `offset` and advancing it past the bytes consumed.
  ///
  /// Call repeatedly until it returns ``Result/needMoreData``; the decoder keeps whatever part of a frame it has
  /// seen. After it throws, the connection must be failed: the decoder's state is undefined.
  package mutating func decode(
    _ input: UnsafeRawBufferPointer, offset: inout Int
  ) throws(ProtocolViolation) -> Result {
    let header: FrameHeader
    switch phase {
    case .payload(let inProgress):
      header = inProgress
    case .header:
      guard let parsed = try readHeader(input, offset: &offset) else { return .needMoreData }
      header = parsed
      if parsed.payloadLength == 0 {
        return .frame(DecodedFrame(header: parsed, payload: []))
      }
      let available = input.count - offset
      if available >= parsed.payloadLength {
        // Fast path: the whole payload is in this input.
        let source = UnsafeRawBufferPointer(rebasing: input[offset..<offset + parsed.payloadLength])
        offset += parsed.payloadLength
        return .frame(DecodedFrame(header: parsed, payload: copyPayload(source, key: parsed.maskingKey)))
      }
      phase = .payload(parsed)
      if let spare = pool?.take(minimumCapacity: parsed.payloadLength)
        ?? recycler?.take(minimumCapacity: parsed.payloadLength)
      {
        // A spare buffer that holds the whole payload: already allocated, so taking it pins no new memory.
        payload = spare
      } else {
        payload = []
        // Reserve what has arrived plus a bounded allowance, not the declared length: a peer that declares 16 MiB
        // and then stalls must not pin 16 MiB per connection.
        payload.reserveCapacity(min(parsed.payloadLength, max(available, 64 * 1024)))
      }
    }
    let wanted = header.payloadLength - payload.count
    let take = min(wanted, input.count - offset)
    if take > 0 {
      let start = payload.count
      if start + take > payload.capacity { growPayload(toHold: start + take, of: header) }
      payload.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset..<offset + take]))
      offset += take
      unmaskPayload(from: start, key: header.maskingKey)
    }
    guard payload.count == header.payloadLength else { return .needMoreData }
    phase = .header
    let frame = DecodedFrame(header: header, payload: payload)
    payload = []
    return .frame(frame)
  }

  /// A whole payload that arrived in one input, unmasked while copied (one pass), into a spare buffer of the pool
  /// when it has one.
  @inline(__always)
  private func copyPayload(_ source: UnsafeRawBufferPointer, key: MaskingKey?) -> [UInt8] {
    let spare = pool?.take(count: source.count) { destination in
      if let key {
        Masking.apply(key, from: source, to: destination)
      } else {
        destination.copyMemory(from: source.baseAddress.unsafelyUnwrapped, byteCount: source.count)
      }
    }
    return spare ?? key.map { Masking.maskedCopy($0, of: source) } ?? [UInt8](source)
  }

  /// How many payload bytes of the frame in progress are still to arrive; 0 between frames.
  package var outstandingPayloadCount: Int {
    if case .payload(let header) = phase { return header.payloadLength - payload.count }
    return 0
  }

  /// Lets `fill` write payload bytes of the frame in progress straight into the frame's storage, so that a
  /// transport can read a large payload without first copying it through its own buffer.
  ///
  /// `fill` gets room for at most ``outstandingPayloadCount`` bytes (more when the storage already has it spare,
  /// never past the frame's end) and returns how many it wrote; a result of zero or less (end of stream, an
  /// error) writes nothing. The bytes written are unmasked and counted as if `decode(_:offset:)` had copied them;
  /// call `decode(_:offset:)` next (an empty input suffices) to collect the frame once it is complete.
  /// Returns what `fill` returned. Requires a frame in progress (``outstandingPayloadCount`` above zero).
  ///
  /// The storage grows as in `decode(_:offset:)`, at most fourfold past what has arrived, so a peer that declares
  /// a large frame and stalls does not pin its declared size.
  package mutating func fillPayload(_ fill: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
    guard case .payload(let header) = phase, header.payloadLength > payload.count else {
      preconditionFailure("fillPayload needs a frame whose payload is still arriving")
    }
    let outstanding = header.payloadLength - payload.count
    let start = payload.count
    if payload.capacity - start < min(outstanding, Self.directFillMinimum) {
      growPayload(toHold: start + Self.directFillMinimum, of: header)
    }
    let room = min(outstanding, payload.capacity - start)
    var result = 0
    payload.append(addingCapacity: room) { span in
      span.withUnsafeMutableBufferPointer { buffer, initialized in
        result = fill(UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[0..<room]))
        initialized = max(0, min(result, room))
      }
    }
    unmaskPayload(from: start, key: header.maskingKey)
    return result
  }

  /// Grows the payload's storage to hold at least `count` bytes: fourfold, within the declared length (fewer copies
  /// of a large payload than doubling, and still at most four times what has arrived).
  private mutating func growPayload(toHold count: Int, of header: FrameHeader) {
    payload.reserveCapacity(min(header.payloadLength, max(count, payload.capacity * 4)))
  }

  /// Unmasks the payload bytes from `start` on, which arrived masked with `key` (server side).
  private mutating func unmaskPayload(from start: Int, key: MaskingKey?) {
    guard payload.count > start, let key else { return }
    Masking.apply(key, phase: start & 3, to: &payload, range: start..<payload.count)
  }

  /// The least room ``fillPayload(_:)`` offers when more than that is outstanding: 64 KiB, one socket read's worth.
  static let directFillMinimum = 64 * 1024

  /// Decodes from an array, for tests and simple callers.
  package mutating func decode(_ input: [UInt8], offset: inout Int) throws(ProtocolViolation) -> Result {
    let result = input.withUnsafeBytes { raw in
      Swift.Result { () throws(ProtocolViolation) in try decode(raw, offset: &offset) }
    }
    return try result.get()
  }

  /// Reads a header from `input` (joining it with bytes kept from earlier inputs); `nil` when incomplete.
  private mutating func readHeader(
    _ input: UnsafeRawBufferPointer, offset: inout Int
  ) throws(ProtocolViolation) -> FrameHeader? {
    if headerBytes.isEmpty, input.count - offset >= 2 {
      let first = input[offset]
      let second = input[offset + 1]
      let needed = try Self.validateFirstTwoBytes(first, second, configuration)
      if input.count - offset >= needed {
        let header = try Self.parseHeader(
          UnsafeRawBufferPointer(rebasing: input[offset..<offset + needed]), configuration)
        offset += needed
        return header
      }
    }
    // Slow path: the header is split across inputs; collect it in `headerBytes`. Its room is reserved here, not up
    // front: most connections never split a header, and an idle one keeps its decoder (issue 34).
    if headerBytes.capacity == 0 { headerBytes.reserveCapacity(FrameHeader.maxSize) }
    while offset < input.count {
      headerBytes.append(input[offset])
      offset += 1
      if headerBytes.count < 2 { continue }
      let needed = try Self.validateFirstTwoBytes(headerBytes[0], headerBytes[1], configuration)
      if headerBytes.count == needed {
        let configuration = configuration
        let parsed = headerBytes.withUnsafeBytes { raw in
          Swift.Result { () throws(ProtocolViolation) in try Self.parseHeader(raw, configuration) }
        }
        headerBytes.removeAll(keepingCapacity: true)
        return try parsed.get()
      }
    }
    return nil
  }

  /// Checks everything the first two bytes decide and returns the header's full size.
  @inline(__always)
  private static func validateFirstTwoBytes(
    _ first: UInt8, _ second: UInt8, _ configuration: Configuration
  ) throws(ProtocolViolation) -> Int {
    let rawOpcode = first & 0x0F
    guard let opcode = Opcode(rawValue: rawOpcode) else { throw .reservedOpcode(rawOpcode) }
    let reserved = first & 0x70
    if reserved & ~configuration.allowedReservedBits != 0 { throw .reservedBitsSet(reserved) }
    let fin = first & 0x80 != 0
    let masked = second & 0x80 != 0
    let length7 = second & 0x7F
    if opcode.isControl {
      guard fin else { throw .fragmentedControlFrame(opcode) }
      guard length7 <= 125 else { throw .controlFrameTooLong(opcode, length: UInt64(length7)) }
    }
    if configuration.expectsMaskedFrames {
      guard masked else { throw .unmaskedClientFrame }
    } else {
      guard !masked else { throw .maskedServerFrame }
    }
    let lengthBytes = length7 == 126 ? 2 : (length7 == 127 ? 8 : 0)
    return 2 + lengthBytes + (masked ? 4 : 0)
  }

  /// Parses a complete header whose first two bytes passed ``validateFirstTwoBytes(_:_:_:)``.
  private static func parseHeader(
    _ bytes: UnsafeRawBufferPointer, _ configuration: Configuration
  ) throws(ProtocolViolation) -> FrameHeader {
    let first = bytes[0]
    let second = bytes[1]
    let length7 = second & 0x7F
    var index = 2
    var length = UInt64(length7)
    if length7 == 126 {
      length = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
      index = 4
      guard length >= 126 else { throw .nonMinimalLength(length) }
    } else if length7 == 127 {
      length = 0
      for position in 2..<10 { length = length << 8 | UInt64(bytes[position]) }
      index = 10
      guard length & (1 << 63) == 0 else { throw .lengthHighBitSet }
      guard length > 0xFFFF else { throw .nonMinimalLength(length) }
    }
    guard length <= UInt64(configuration.maxFrameSize) else {
      throw .frameTooBig(size: length, limit: configuration.maxFrameSize)
    }
    var key: MaskingKey? = nil
    if second & 0x80 != 0 {
      key = MaskingKey(bytes[index], bytes[index + 1], bytes[index + 2], bytes[index + 3])
    }
    // `Opcode(rawValue:)` cannot fail here: the first two bytes were validated.
    let opcode = Opcode(rawValue: first & 0x0F) ?? .binary
    return FrameHeader(
      fin: first & 0x80 != 0, reservedBits: first & 0x70, opcode: opcode, maskingKey: key,
      payloadLength: Int(length))
  }
}
