/// The sans-I/O WebSocket protocol engine for one connection, in either role: bytes in, events and bytes out.
///
/// It never touches a socket and never waits. The I/O layer feeds received bytes to ``receive(_:offset:)`` until
/// it returns `nil`, acts on each `ConnectionEvent`, and writes what ``takeOutput(into:)`` hands over. The
/// application's frames go through ``send(_:)`` and ``close(_:)``.
///
/// In the ``Mode/default`` mode (Ktor's `DefaultWebSocketSession`) it answers pings, reassembles fragmented
/// messages and validates text as UTF-8 as it arrives, failing on the first invalid byte. In the ``Mode/raw`` mode
/// (Ktor's raw session) every frame is delivered as it arrives and nothing is answered automatically. Both modes
/// enforce the framing rules and limits, and map every violation to its close code through
/// ``ProtocolViolation/closeCode``.
package struct ConnectionStateMachine: Sendable {
  /// Which end of the connection this is.
  package enum Role: Sendable, Hashable {
    /// The client: masks what it sends, requires unmasked frames.
    case client
    /// The server: requires masked frames, sends unmasked ones.
    case server
  }

  /// How much protocol handling happens automatically.
  package enum Mode: Sendable, Hashable {
    /// Automatic pong, reassembly, UTF-8 validation of text.
    case `default`
    /// No automatic pong, no reassembly, no close reply: frames are delivered as they arrive.
    case raw
  }

  /// The machine's limits and behaviour; a value validated once when built.
  package struct Configuration: Sendable, Hashable {
    /// 16 MiB: large enough for the 16 MiB messages of the usual conformance suites, small enough that a peer
    /// cannot make one connection hold an unbounded buffer.
    package static let defaultMaxFrameSize = 16 * 1024 * 1024
    /// 16 MiB, for the same reason as ``defaultMaxFrameSize``.
    package static let defaultMaxMessageSize = 16 * 1024 * 1024

    /// Which end this is.
    package var role: Role
    /// Default or raw handling.
    package var mode: Mode
    /// The largest frame payload accepted, in bytes (default 16 MiB); checked on the header, before any payload is
    /// read. Larger frames fail with 1009.
    package var maxFrameSize: Int
    /// The largest reassembled message, in bytes (default 16 MiB; default mode only). Larger fail with 1009.
    package var maxMessageSize: Int
    /// RSV bits (`0x40`, `0x20`, `0x10`) that negotiated extensions define (default none).
    package var allowedReservedBits: UInt8
    /// Whether frames we send are masked. Default: `true` for a client, which "MUST mask all frames that it sends
    /// to the server" (RFC 6455 section 5.3), and `false` for a server (Ktor's server `masking` option).
    package var masksOutgoingFrames: Bool

    /// Creates a configuration; negative limits are treated as zero.
    package init(
      role: Role, mode: Mode = .default, maxFrameSize: Int = defaultMaxFrameSize,
      maxMessageSize: Int = defaultMaxMessageSize, allowedReservedBits: UInt8 = 0, masksOutgoingFrames: Bool? = nil
    ) {
      self.role = role
      self.mode = mode
      self.maxFrameSize = max(0, maxFrameSize)
      self.maxMessageSize = max(0, maxMessageSize)
      self.allowedReservedBits = allowedReservedBits & 0x70
      self.masksOutgoingFrames = masksOutgoingFrames ?? (role == .client)
    }
  }

  /// The configuration in force (built with; ``setMaxFrameSize(_:)`` and ``setMasksOutgoingFrames(_:)`` change it).
  package private(set) var configuration: Configuration
  /// The closing handshake's phase, the machine's one state (`ConnectionPhase`).
  private var phase = ConnectionPhase.open
  /// Where the closing handshake stands.
  package var state: ConnectionState { phase.state }
  /// The reason in the peer's close frame; `nil` before it arrives or when it carried no code.
  package var receivedCloseReason: CloseReason? { phase.receivedClose ?? nil }
  /// The reason in the close frame we sent; `nil` before we send one.
  package var sentCloseReason: CloseReason? { phase.sentClose ?? nil }
  /// The peer's violation that failed the connection, if any.
  package var failure: ProtocolViolation? {
    if case .failed(let violation, _, _) = phase { return violation }
    return nil
  }

  private var decoder: FrameDecoder
  private var fragments = FragmentTracker()
  private var outgoingFragments = FragmentTracker()
  private var assembler: MessageAssembler
  private var textValidator = UTF8Validator()
  /// Payload bytes of the frame being decoded that were already fed to `textValidator`.
  private var validatedCount = 0
  private var maskingKeys: MaskingKeyGenerator
  /// Spare buffers for large payloads (`LargeBufferRecycler`), when the owner passed some; kept by the decoder
  /// (one reference per connection, not two: idle connections stay as small as they were).
  private var recycler: LargeBufferRecycler? { decoder.recycler }
  /// Offers `payload` (a frame's, as the session hands it to the application) to the spare buffers for payloads
  /// under 64 KiB (`PayloadBufferPool`), when the owner passed some: payloads received come from them. Kept by the
  /// decoder, as the recycler.
  /// Mutating so that the pool is reached in place: a read of the machine from the connection's stored property would
  /// retain and release the pool (or copy the machine) on every message.
  @inline(__always)
  package mutating func offerDelivered(_ payload: [UInt8]) {
    decoder.pool?.offer(payload)
  }
  private var output: [UInt8] = []
  /// Output queued before `output`: large unmasked payloads by reference (``zeroCopyThreshold``) and the buffers
  /// that preceded them.
  private var outputChunks: [[UInt8]] = []
  private var outputChunksHead = 0
  private var outputChunksCount = 0
  /// The negotiated extensions, in the order of the handshake's response.
  package let extensions: [any WebSocketExtension]
  /// Whether the incoming message being received started with an extension's RSV bit (it is then transformed, for
  /// example compressed, and its UTF-8 can only be checked after the extension has processed it).
  private var incomingMessageTransformed = false

  /// Creates a machine in the `ConnectionState.open` state, as after a successful opening handshake.
  ///
  /// - Parameters:
  ///   - configuration: the role, mode and limits.
  ///   - extensions: the negotiated extensions (their RSV bits are allowed in incoming frames). In the default
  ///     mode they transform data frames: outgoing in order, incoming in reverse order. In the raw mode frames pass
  ///     as they are, with their RSV bits.
  ///   - random: the source of masking keys; inject a fixed one in tests.
  ///   - recycler: spare buffers for large payloads, received and (client) masked; the session passes the
  ///     process's `LargeBufferRecycler.shared`. `nil` (the default) allocates every one.
  ///   - pool: spare buffers for payloads under 64 KiB, shared by the connections of one event loop; the session
  ///     passes its transport's `PayloadPoolProviding.payloadPool`. `nil` (the default) allocates every one. A machine with a
  ///     pool must be used only on the pool's executor.
  package init(
    configuration: Configuration, extensions: [any WebSocketExtension] = [],
    random: any SecureRandomSource = SystemSecureRandom(), recycler: LargeBufferRecycler? = nil,
    pool: PayloadBufferPool? = nil
  ) {
    self.configuration = configuration
    self.extensions = extensions
    decoder = FrameDecoder(
      configuration: .init(
        expectsMaskedFrames: configuration.role == .server, maxFrameSize: configuration.maxFrameSize,
        allowedReservedBits: configuration.allowedReservedBits
          | WebSocketExtensionsConfig.reservedBits(of: extensions)),
      recycler: recycler, pool: pool)
    assembler = MessageAssembler(maxMessageSize: configuration.maxMessageSize)
    maskingKeys = MaskingKeyGenerator(source: random)
  }

  /// Changes the frame size limit, in bytes; it applies from the next frame header on (a frame whose header is
  /// already read keeps the limit it was checked against).
  package mutating func setMaxFrameSize(_ limit: Int) {
    configuration.maxFrameSize = max(0, limit)
    decoder.configuration.maxFrameSize = configuration.maxFrameSize
  }

  /// Changes whether the frames sent from now on are masked (RFC 6455 section 5.3 requires it of a client and
  /// section 5.1 forbids it to a server; Ktor exposes the setting for tests).
  package mutating func setMasksOutgoingFrames(_ masks: Bool) {
    configuration.masksOutgoingFrames = masks
  }

  // MARK: Receiving

  /// Consumes bytes from `input` starting at `offset`, until one event is ready or the input is used up.
  ///
  /// Call again with the same input and offset until it returns `nil`. After the peer's close frame or a failure,
  /// further bytes are discarded ("the endpoint MUST NOT ... process any data after the Close frame", RFC 6455
  /// section 5.5.1).
  package mutating func receive(_ input: UnsafeRawBufferPointer, offset: inout Int) -> ConnectionEvent? {
    guard phase.readsInput else {
      offset = input.count
      return nil
    }
    while true {
      let result: FrameDecoder.Result
      do {
        result = try decoder.decode(input, offset: &offset)
      } catch {
        return fail(error)
      }
      switch consume result {
      case .needMoreData:
        return inspectPartialFrame()
      case .frame(let decoded):
        do {
          if let event = try handle(consume decoded) { return event }
        } catch {
          return fail(error)
        }
      }
    }
  }

  /// Has `fill` write payload bytes of the frame in progress straight into its storage (a transport reading a
  /// large payload without its own buffer, `FrameDecoder.fillPayload(_:)`) when at least `minimum` bytes of it
  /// are still to arrive, and returns what `fill` returned; `nil`, without calling `fill`, otherwise (between
  /// frames, after the peer's close or a failure). Call ``receive(_:offset:)`` next, with an empty input, to collect
  /// the frame when it is complete and to check the text received so far.
  ///
  /// Mutating, and one call rather than a property and a method: the connection keeps the machine in an actor's
  /// stored property, where a non-mutating read copies the whole machine (see `checkHasOutput()`).
  package mutating func fillPayload(
    ifOutstandingAtLeast minimum: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Int
  ) -> Int? {
    guard hasOutstandingPayload(atLeast: minimum) else { return nil }
    return decoder.fillPayload(fill)
  }

  /// Whether a frame's payload of at least `minimum` (and at least one) bytes is still arriving while the machine
  /// reads: what ``fillPayload(ifOutstandingAtLeast:_:)`` would fill.
  package func hasOutstandingPayload(atLeast minimum: Int) -> Bool {
    guard phase.readsInput else { return false }
    let outstanding = decoder.outstandingPayloadCount
    return outstanding > 0 && outstanding >= minimum
  }

  /// Consumes bytes from an array and returns every event, for tests and simple callers.
  package mutating func receive(_ bytes: [UInt8]) -> [ConnectionEvent] {
    var events: [ConnectionEvent] = []
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while let event = receive(raw, offset: &offset) { events.append(event) }
    }
    return events
  }

  /// Reports that the transport ended (EOF or reset). Returns `ConnectionEvent.closedWithoutCloseFrame` unless
  /// the peer's close frame arrived or the connection had already failed.
  package mutating func receiveEndOfStream() -> ConnectionEvent? {
    switch phase {
    case .open:
      phase = .closed(sent: .none, received: .none)
      return .closedWithoutCloseFrame
    case .closingByUs(let sent):
      phase = .closed(sent: .some(sent), received: .none)
      return .closedWithoutCloseFrame
    case .closingByPeer(let received):
      phase = .closed(sent: .none, received: .some(received))
      return nil
    case .closed, .failed:
      return nil
    }
  }

  /// The reason to answer a peer's close with: its own reason echoed, code and message ("the endpoint typically
  /// echos the status code it received", RFC 6455 section 5.5.1; Ktor's session echoes `frame.readReason()` whole),
  /// or 1000 when it sent none.
  package var closeReplyReason: CloseReason {
    guard let received = receivedCloseReason else { return CloseReason(code: .normal) }
    // A close without a body (1005) is answered as before: by the code alone, which sends an empty close.
    return received.code.isValidOnWire ? received : CloseReason(code: received.code)
  }

  private mutating func handle(_ decoded: consuming FrameDecoder.DecodedFrame) throws(ProtocolViolation)
    -> ConnectionEvent?
  {
    let header = decoded.header
    // Moved out, not copied: the payload's storage is retained once per message less.
    var payload = (consume decoded).payload
    let raw = configuration.mode == .raw
    // RFC 7692 section 6.1 and RFC 6455 section 5.2: extensions give RSV bits a meaning on data frames only.
    if header.opcode.isControl && header.reservedBits != 0 { throw .reservedBitsSet(header.reservedBits) }
    switch header.opcode {
    case .ping:
      if raw { return .frame(Frame(unchecked: true, .ping, payload)) }
      if case .none = phase.sentClose {
        encode(fin: true, opcode: .pong, reservedBits: 0, payload: payload)
      }
      return .ping(payload)
    case .pong:
      return raw ? .frame(Frame(unchecked: true, .pong, payload)) : .pong(payload)
    case .close:
      let reason = try CloseReason.parse(closePayload: payload)
      if case .closingByUs(let sent) = phase {
        phase = .closed(sent: .some(sent), received: .some(reason))
      } else {
        phase = .closingByPeer(received: reason)
      }
      return raw ? .frame(Frame(unchecked: true, .close, payload)) : .closeReceived(reason)
    case .text, .binary, .continuation:
      let type = try fragments.receive(opcode: header.opcode, fin: header.fin)
      var bits = header.reservedBits
      if raw {
        validatedCount = 0
        return .frame(
          Frame(unchecked: header.fin, type, payload, bits & 0x40 != 0, bits & 0x20 != 0, bits & 0x10 != 0))
      }
      // The size check comes first, as in `inspectPartialFrame`, so the same input fails the same way however it
      // was split.
      let total = UInt64(assembler.bufferedCount) + UInt64(payload.count)
      guard total <= UInt64(configuration.maxMessageSize) else {
        throw .messageTooBig(size: total, limit: configuration.maxMessageSize)
      }
      if !extensions.isEmpty {
        let startsMessage = header.opcode != .continuation
        if startsMessage { incomingMessageTransformed = bits != 0 }
        var frame = Frame(unchecked: header.fin, type, payload, bits & 0x40 != 0, bits & 0x20 != 0, bits & 0x10 != 0)
        let limit = configuration.maxMessageSize - assembler.bufferedCount
        for ext in extensions.reversed() {
          frame = try ext.processIncoming(frame, startsMessage: startsMessage, limit: limit)
        }
        payload = frame.data
        bits = frame.reservedBits
        guard bits == 0 else { throw .reservedBitsSet(bits) }
      }
      if type == .text {
        if header.opcode == .text && validatedCount == 0 { textValidator.reset() }
        let valid = payload.withUnsafeBytes { bytes in
          textValidator.validate(UnsafeRawBufferPointer(rebasing: bytes[validatedCount...]))
        }
        // A text message must also end on a code point boundary.
        guard valid, !header.fin || textValidator.isComplete else { throw .invalidUTF8 }
      }
      validatedCount = 0
      guard
        let message = try assembler.append(type: type, fin: header.fin, reservedBits: bits, payload: consume payload)
      else { return nil }
      return .frame(message)
    }
  }

  /// Checks a data frame whose payload is still arriving: its sequencing, the message size it will reach, and in
  /// the default mode the UTF-8 of text received so far, so that bad input fails before the frame completes.
  private mutating func inspectPartialFrame() -> ConnectionEvent? {
    guard let (header, payload) = decoder.partialFrame, !header.opcode.isControl else { return nil }
    do throws(ProtocolViolation) {
      let type = try fragments.peek(opcode: header.opcode)
      guard configuration.mode == .default else { return nil }
      let total = UInt64(assembler.bufferedCount) + UInt64(header.payloadLength)
      guard total <= UInt64(configuration.maxMessageSize) else {
        throw .messageTooBig(size: total, limit: configuration.maxMessageSize)
      }
      // A transformed (compressed) message's UTF-8 is checked after its extension has processed it. So is a frame
      // with reserved bits in a message that is not transformed: the extension judges those bits first when the
      // frame is complete (permessage-deflate fails RSV1 on a continuation frame with 1002), and an early UTF-8
      // check would fail the same input with 1007 or 1002 depending on how it was split (found by fuzzing).
      let transformed = header.opcode == .continuation ? incomingMessageTransformed : header.reservedBits != 0
      guard type == .text, !transformed, header.reservedBits == 0, validatedCount < payload.count else { return nil }
      if header.opcode == .text && validatedCount == 0 { textValidator.reset() }
      let valid = payload.withUnsafeBytes { bytes in
        textValidator.validate(UnsafeRawBufferPointer(rebasing: bytes[validatedCount...]))
      }
      validatedCount = payload.count
      guard valid else { throw .invalidUTF8 }
      return nil
    } catch {
      return fail(error)
    }
  }

  private mutating func fail(_ violation: ProtocolViolation) -> ConnectionEvent {
    let sent = phase.sentClose
    if case .some = sent {
      phase = .failed(violation, heldClose: nil, sent: sent)
    } else if holdsFailureClose {
      phase = .failed(violation, heldClose: violation.closeReason, sent: .none)
    } else {
      let reason = violation.closeReason
      encode(fin: true, opcode: .close, reservedBits: 0, payload: reason.payload)
      phase = .failed(violation, heldClose: nil, sent: .some(reason))
    }
    return .failed(violation)
  }

  /// Whether the close frame that fails the connection waits for ``releaseFailureClose()`` instead of being queued
  /// at once. Default `false`. A session sets it so that the answers to messages that arrived before the violation
  /// go out first (Autobahn's "message, then bad frame" cases expect the echo before the close); input stays
  /// ignored from the violation on, and frames may be sent until the release.
  package var holdsFailureClose = false

  /// Queues the held close frame of a failure (``holdsFailureClose``); does nothing when none is held.
  package mutating func releaseFailureClose() {
    guard case .failed(let violation, let held?, _) = phase else { return }
    encode(fin: true, opcode: .close, reservedBits: 0, payload: held.payload)
    phase = .failed(violation, heldClose: nil, sent: .some(held))
  }

  // MARK: Sending

  /// Queues a frame for sending.
  ///
  /// A text or binary frame with `fin == false` starts (or continues) a fragmented message; later frames of the
  /// same type go out as continuation frames (opcode 0), the last one with `fin == true`. Control frames may be
  /// sent between fragments. A close frame behaves as ``close(_:)``.
  ///
  /// - Throws: ``ConnectionUsageError/alreadyClosed`` after our close frame;
  ///   ``ConnectionUsageError/interleavedMessage(open:sent:)`` when a frame of another type interrupts a
  ///   fragmented message; ``ConnectionUsageError/invalidCloseCode(_:)`` for a close frame whose code may not be
  ///   sent (default mode).
  package mutating func send(_ frame: Frame) throws(ConnectionUsageError) {
    switch phase {
    case .open, .closingByPeer, .failed(_, heldClose: _?, _): break
    case .closingByUs, .closed, .failed: throw .alreadyClosed
    }
    let opcode: Opcode
    switch frame.frameType {
    case .close:
      // RFC 6455 section 7.4: 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control frame by
      // an endpoint", nor may undefined codes. A default session refuses them; a raw one sends what it is given
      // (it exists to test peers, rule-breaking frames included).
      if configuration.mode == .default, frame.data.count >= 2 {
        let code = CloseReason.Code(rawValue: UInt16(frame.data[0]) << 8 | UInt16(frame.data[1]))
        guard code.isValidOnWire else { throw .invalidCloseCode(code.rawValue) }
      }
      markCloseSent(reason: frame.readReason())
      opcode = .close
    case .ping, .pong:
      opcode = frame.frameType.opcode
    case .text, .binary:
      let tracker = outgoingFragments
      guard let wireOpcode = outgoingFragments.send(type: frame.frameType, fin: frame.fin) else {
        throw .interleavedMessage(open: tracker.openMessage ?? frame.frameType, sent: frame.frameType)
      }
      if configuration.mode == .default && !extensions.isEmpty {
        var transformed = frame
        do {
          for ext in extensions {
            transformed = try ext.processOutgoing(transformed, startsMessage: wireOpcode != .continuation)
          }
        } catch {
          outgoingFragments = tracker
          throw .extensionFailed("\(error)")
        }
        encode(
          fin: transformed.fin, opcode: wireOpcode, reservedBits: transformed.reservedBits, payload: transformed.data)
        return
      }
      opcode = wireOpcode
    }
    encode(fin: frame.fin, opcode: opcode, reservedBits: frame.reservedBits, payload: frame.data)
  }

  /// Queues a whole message that was already encoded as one unmasked frame (header and payload, with the RSV bits
  /// its encoding needs), for fan-out: one encoding shared by many connections (``Topics``). The caller is
  /// responsible for the bytes matching this connection's negotiation (`FanoutEncoding`); the machine checks the
  /// rules that depend on its state: no close frame sent yet, and no fragmented message of ours open (RFC 6455
  /// section 5.4: "the fragments of one message MUST NOT be interleaved between the fragments of another message").
  ///
  /// - Throws: ``ConnectionUsageError/alreadyClosed`` after our close frame;
  ///   ``ConnectionUsageError/interleavedMessage(open:sent:)`` while a fragmented message is open.
  package mutating func sendEncoded(_ bytes: [UInt8], type: FrameType) throws(ConnectionUsageError) {
    switch phase {
    case .open, .closingByPeer, .failed(_, heldClose: _?, _): break
    case .closingByUs, .closed, .failed: throw .alreadyClosed
    }
    let tracker = outgoingFragments
    guard outgoingFragments.send(type: type, fin: true) != nil else {
      throw .interleavedMessage(open: tracker.openMessage ?? type, sent: type)
    }
    if bytes.count >= Self.zeroCopyThreshold {
      queueChunk(output)
      output = []
      queueChunk(bytes)
    } else {
      output.append(contentsOf: bytes)
    }
  }

  /// Queues a close frame with `reason` (`nil`: no status code) and moves to `ConnectionState.closingByUs`, or to
  /// `ConnectionState.closed` when it answers the peer's close. Does nothing when a close frame was already sent.
  ///
  /// - Returns: whether a close frame was queued.
  @discardableResult
  package mutating func close(_ reason: CloseReason?) -> Bool {
    switch phase {
    case .open, .closingByPeer, .failed(_, heldClose: _?, _): break
    case .closingByUs, .closed, .failed: return false
    }
    encode(fin: true, opcode: .close, reservedBits: 0, payload: reason?.payload ?? [])
    markCloseSent(reason: reason)
    return true
  }

  private mutating func markCloseSent(reason: CloseReason?) {
    switch phase {
    case .closingByPeer(let received): phase = .closed(sent: .some(reason), received: .some(received))
    case .failed(let violation, _, _): phase = .failed(violation, heldClose: nil, sent: .some(reason))
    default: phase = .closingByUs(sent: reason)
    }
  }

  /// Payloads from this size on are not copied behind their header: unmasked (server) payloads are queued by
  /// reference, masked (client) ones as a masked copy made in one pass. 64 KiB: below it a copy costs less than a
  /// separate write of the payload (docs/decisions/0009).
  package static let zeroCopyThreshold = 64 * 1024

  private mutating func encode(fin: Bool, opcode: Opcode, reservedBits: UInt8, payload: [UInt8]) {
    let key = configuration.masksOutgoingFrames ? maskingKeys.nextKey() : nil
    if payload.count >= Self.zeroCopyThreshold {
      FrameHeader(fin: fin, reservedBits: reservedBits, opcode: opcode, maskingKey: key, payloadLength: payload.count)
        .encode(into: &output)
      queueChunk(output)
      output = []
      queueChunk(key.map { maskedChunk(payload, key: $0) } ?? payload)
      return
    }
    FrameEncoder.encode(
      fin: fin, opcode: opcode, reservedBits: reservedBits, payload: payload, maskingKey: key, into: &output)
  }

  /// A masked copy of a large payload, in a recycled buffer when one is spare (`LargeBufferRecycler`).
  private func maskedChunk(_ payload: [UInt8], key: MaskingKey) -> [UInt8] {
    guard var chunk = recycler?.take(minimumCapacity: payload.count) else {
      return payload.withUnsafeBytes { Masking.maskedCopy(key, of: $0) }
    }
    payload.withUnsafeBytes { chunk.append(contentsOf: MaskedBytes($0, key: key)) }
    return chunk
  }

  /// `count` bytes from the machine's random source (a session's ping payloads). Mutating: see
  /// `checkHasOutput()`.
  package mutating func randomBytes(_ count: Int) -> [UInt8] {
    maskingKeys.randomBytes(count)
  }

  // MARK: Output

  private mutating func queueChunk(_ chunk: [UInt8]) {
    guard !chunk.isEmpty else { return }
    outputChunks.append(chunk)
    outputChunksCount += chunk.count
  }

  /// `true` when bytes are waiting to be written.
  package var hasOutput: Bool { !output.isEmpty || outputChunksCount > 0 }

  /// ``hasOutput`` for the connection's write path. Mutating on purpose: the connection keeps the machine in an
  /// actor's stored property, and a non-mutating read there copied the whole machine (retaining each of its
  /// references) on every check.
  mutating func checkHasOutput() -> Bool { hasOutput }

  /// The number of bytes waiting to be written.
  package var outputCount: Int { outputChunksCount + output.count }

  /// The first queued chunk that precedes the output buffer (a large payload, or the bytes before it), by
  /// reference; `nil` when only the buffer is left (``takeOutput(into:)`` hands it over). Writing chunks first and
  /// then the buffer keeps the order of the frames.
  package mutating func takeQueuedChunk() -> [UInt8]? {
    guard outputChunksHead < outputChunks.count else { return nil }
    // Moved out, not copied: the caller then holds the only reference, and the socket can recycle the buffer.
    var chunk: [UInt8] = []
    swap(&chunk, &outputChunks[outputChunksHead])
    outputChunksHead += 1
    outputChunksCount -= chunk.count
    if outputChunksHead == outputChunks.count {
      outputChunks.removeAll(keepingCapacity: true)
      outputChunksHead = 0
    }
    return chunk
  }

  /// Hands the queued bytes to the caller by swapping buffers: `buffer` (which should be empty, and may keep
  /// capacity from an earlier write) becomes the machine's next output buffer, so steady-state writes allocate
  /// nothing.
  package mutating func takeOutput(into buffer: inout [UInt8]) {
    buffer.removeAll(keepingCapacity: true)
    if outputChunksCount > 0 {
      // Queued chunks first (a caller that does not take them one by one gets one contiguous copy).
      while let chunk = takeQueuedChunk() { buffer.append(contentsOf: chunk) }
      buffer.append(contentsOf: output)
      output.removeAll(keepingCapacity: true)
      return
    }
    swap(&buffer, &output)
  }

  /// The queued bytes, emptying the queue.
  package mutating func takeOutput() -> [UInt8] {
    var bytes: [UInt8] = []
    takeOutput(into: &bytes)
    return bytes
  }
}
