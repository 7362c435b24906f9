// libFuzzer targets for Wisp's parsers (issue 23, "fuzzing") and the HTTP/2 glue (issue 35, Platform/). Built by
// scripts/fuzz together with the sources of WispCommon and WispLinuxPlatform as one module (so that nothing needs to
// be public for fuzzing), with `-sanitize=fuzzer,address`. One binary serves every target: WISP_FUZZ_TARGET names
// the one to run.
//
// Each target asserts what must hold for any input (no trap, and the invariants below), so that libFuzzer and
// AddressSanitizer report violations as crashes:
//
//   frames      the frame decoder and state machine; the first byte picks the role, the mode (default or raw), a
//               small or large frame limit, permessage-deflate (with or without context takeover), and where the
//               rest is split; the same input split differently must give the same events.
//   request     the HTTP head parser on a request, then the server handshake's validation; a parsed head must
//               re-parse the same from its own serialization.
//   response    the HTTP head parser on a response, then the client's validation of it against an offer with a
//               subprotocol and permessage-deflate.
//   extensions  the Sec-WebSocket-Extensions parser, the server's choice among the offers and the client's check
//               of an answer; a parsed header must parse the same from its serialization.
//   inflate     the zlib inflater behind permessage-deflate with a 64 KiB limit: never more output than the limit.
//   resp        the RESP2 parser of the Redis pub/sub backend (issue 19) with small limits: the first byte says where
//               the rest is split; the same bytes split differently must give the same values and the same verdict;
//               every bulk string is also tried as a pub/sub envelope, a Redis Streams live message, an offset, a
//               frame in offset framing and a cluster redirection; every value as a history page and a slot map
//               (issue 36): whatever parses must hold what it claims.
//   http2       the HTTP/2 server glue on nghttp2 (Platform/HTTP2FuzzTarget.swift).
import CWispZlib
import Glibc

enum FuzzTarget: String, CaseIterable {
  case frames, request, response, extensions, inflate, resp, http2
}

/// The target this process runs, from WISP_FUZZ_TARGET (read once).
nonisolated(unsafe) let selectedTarget: FuzzTarget = {
  guard let name = getenv("WISP_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name)
  else {
    fatalError("set WISP_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
  }
  return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = Array(UnsafeBufferPointer(start: data, count: size))
  switch selectedTarget {
  case .frames: fuzzFrames(input)
  case .request: fuzzRequest(input)
  case .response: fuzzResponse(input)
  case .extensions: fuzzExtensions(input)
  case .inflate: fuzzInflate(input)
  case .resp: fuzzRESP(input)
  case .http2: fuzzHTTP2(input)
  }
  return 0
}

/// A fixed masking-key source: the fuzzer's input decides everything.
struct FixedRandom: SecureRandomSource {
  func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    for index in buffer.indices { buffer[index] = UInt8(truncatingIfNeeded: index &* 37) }
  }
}

func makeMachine(_ control: UInt8, pool: PayloadBufferPool? = nil) -> ConnectionStateMachine {
  let role: ConnectionStateMachine.Role = control & 1 == 0 ? .server : .client
  let mode: ConnectionStateMachine.Mode = control & 2 == 0 ? .default : .raw
  let limit = control & 4 == 0 ? 1 << 10 : 1 << 20
  var extensions: [any WebSocketExtension] = []
  if control & 8 != 0 {
    var config = PerMessageDeflateConfig(codec: ZlibDeflateCodec())
    config.serverNoContextTakeover = control & 16 != 0
    let factory = PerMessageDeflateFactory(config: config)
    var offer = ExtensionOffer(name: "permessage-deflate")
    if control & 16 != 0 {
      offer = ExtensionOffer(name: "permessage-deflate", parameters: [.init(name: "server_no_context_takeover")])
    }
    if role == .server, let accepted = factory.serverAccept([offer]) {
      extensions = [accepted.extension]
    } else if role == .client, let accepted = try? factory.clientAccept(offer) {
      extensions = [accepted]
    }
  }
  return ConnectionStateMachine(
    configuration: .init(role: role, mode: mode, maxFrameSize: limit, maxMessageSize: limit),
    extensions: extensions, random: FixedRandom(), pool: pool)
}

func fuzzFrames(_ input: [UInt8]) {
  guard input.count >= 2 else { return }
  let control = input[0]
  let bytes = Array(input[2...])
  var whole = makeMachine(control)
  var expected = whole.receive(bytes)
  if let end = whole.receiveEndOfStream() { expected.append(end) }
  // The same bytes in pieces of a size the second byte picks (1 to 256): the events must not depend on the split.
  var split = makeMachine(control)
  let piece = Int(input[1]) + 1
  var events: [ConnectionEvent] = []
  var start = 0
  while start < bytes.count {
    let end = min(bytes.count, start + piece)
    events += split.receive(Array(bytes[start..<end]))
    start = end
  }
  if let end = split.receiveEndOfStream() { events.append(end) }
  precondition(events == expected, "events depend on how the input is split")
  // The same pieces through a machine with a payload pool that answers every data frame and lets go of it, as an
  // echo does: buffers come back for later frames, and what it delivers must not change.
  var echoing = makeMachine(control, pool: PayloadBufferPool())
  var delivered: [[UInt8]] = []
  start = 0
  while start < bytes.count {
    let end = min(bytes.count, start + piece)
    for event in echoing.receive(Array(bytes[start..<end])) {
      guard case .frame(let frame) = event else { continue }
      delivered.append(frame.data.map { $0 })
      if frame.frameType == .text || frame.frameType == .binary { _ = try? echoing.send(frame) }
    }
    _ = echoing.takeOutput()
    start = end
  }
  let expectedPayloads = expected.compactMap { event -> [UInt8]? in
    guard case .frame(let frame) = event else { return nil }
    return frame.data
  }
  precondition(delivered == expectedPayloads, "pooled payloads differ from freshly allocated ones")
  // Whatever state the machine is in, sending and closing never trap (they may refuse with an error).
  _ = try? whole.send(.text("reply"))
  _ = whole.close(CloseReason(.normal))
  _ = whole.takeOutput()
}

func fuzzRequest(_ input: [UInt8]) {
  var parser = HTTPHeadParser()
  var offset = 0
  let parsed = input.withUnsafeBytes { try? parser.parseRequest($0, offset: &offset) }
  guard let request = parsed ?? nil else { return }
  precondition(offset <= input.count)
  if let upgrade = try? ServerHandshake.validate(request) {
    _ = ServerHandshake.response(accepting: upgrade).serialized()
  }
  var again = HTTPHeadParser()
  var againOffset = 0
  let serialized = request.serialized()
  let reparsed = serialized.withUnsafeBytes { try? again.parseRequest($0, offset: &againOffset) }
  // Bytes that are not UTF-8 in a header value (obs-text, RFC 9110 section 5.5) become U+FFFD in the parsed
  // strings, so the round trip is only required of heads that are UTF-8 (found by the fuzzer: not a parser bug).
  guard String(validating: input[..<offset], as: UTF8.self) != nil else { return }
  precondition(reparsed == request, "a parsed request does not survive its own serialization")
}

func fuzzResponse(_ input: [UInt8]) {
  var parser = HTTPHeadParser()
  var offset = 0
  let parsed = input.withUnsafeBytes { try? parser.parseResponse($0, offset: &offset) }
  guard let response = parsed ?? nil else { return }
  let handshake = ClientHandshake(
    host: "example.com", target: "/", subprotocols: ["chat"],
    extensionOffers: PerMessageDeflateFactory(config: PerMessageDeflateConfig(codec: ZlibDeflateCodec()))
      .clientOffers(),
    random: FixedRandom())
  _ = try? handshake.validate(response)
}

func fuzzExtensions(_ input: [UInt8]) {
  let value = String(decoding: input, as: UTF8.self)
  guard let offers = try? ExtensionHeader.parse(value) else { return }
  let reparsed = try? ExtensionHeader.parse(ExtensionHeader.serialize(offers))
  precondition(reparsed == offers || offers.isEmpty, "a parsed header does not survive its own serialization")
  let factory = PerMessageDeflateFactory(config: PerMessageDeflateConfig(codec: ZlibDeflateCodec()))
  _ = factory.serverAccept(offers)
  for offer in offers { _ = try? factory.clientAccept(offer) }
}

func fuzzInflate(_ input: [UInt8]) {
  guard let first = input.first,
    let decompressor = try? ZlibDeflateCodec().makeDecompressor(windowBits: 8 + Int(first % 8))
  else { return }
  var output: [UInt8] = []
  let limit = 64 * 1024
  // The input in two calls (as two frames of one message), then the permessage-deflate tail.
  let middle = input.count / 2
  do {
    try decompressor.decompress(Array(input[1..<max(1, middle)]), into: &output, limit: limit)
    try decompressor.decompress(
      Array(input[max(1, middle)...]) + [0x00, 0x00, 0xFF, 0xFF], into: &output, limit: limit)
  } catch {}
  precondition(output.count <= limit, "inflated past the limit")
}

/// The RESP parser, fed whole and split in two: equal values, and an error in both or neither.
func fuzzRESP(_ input: [UInt8]) {
  guard let control = input.first else { return }
  let body = Array(input.dropFirst())
  var limits = RESPParser.Limits()
  limits.maxBulkLength = 4096
  limits.maxArrayCount = 64
  limits.maxLineLength = 256
  limits.maxBufferedBytes = 8192
  func parse(_ pieces: [ArraySlice<UInt8>]) -> (values: [RESPValue], failed: Bool) {
    var parser = RESPParser(limits: limits)
    var values: [RESPValue] = []
    do {
      for piece in pieces {
        try parser.append(Array(piece))
        while let value = try parser.next() { values.append(value) }
      }
    } catch {
      return (values, true)
    }
    return (values, false)
  }
  let whole = parse([body[...]])
  let split = body.isEmpty ? 0 : Int(control) % (body.count + 1)
  let halves = parse([body[..<split], body[split...]])
  // A split can only make the parser fail earlier on the buffered-bytes bound, never see other values.
  precondition(whole.values.starts(with: halves.values) || halves.values.starts(with: whole.values))
  if !whole.failed && !halves.failed { precondition(whole.values == halves.values) }
  for value in whole.values {
    if case .bulkString(let bytes?) = value {
      if let envelope = PubSubEnvelope(decoding: bytes) {
        precondition(PubSubEnvelope(decoding: envelope.encoded()) == envelope)
      }
      if let live = RedisStreamsScripts.liveMessage(bytes) {
        precondition(TopicOffset(live.offset.description) == live.offset)
      }
      let text = String(decoding: bytes, as: UTF8.self)
      if let offset = TopicOffset(text) { precondition(TopicOffset(offset.description) == offset) }
      if let redirection = RedisClusterSlot.Redirection(text) {
        precondition((0..<RedisClusterSlot.count).contains(redirection.slot) && redirection.port > 0)
      }
      precondition((0..<RedisClusterSlot.count).contains(RedisClusterSlot.of(bytes)))
      for frame in [Frame(unchecked: true, .text, bytes), Frame(unchecked: true, .binary, bytes)] {
        if case .message(let offset, let message)? = TopicFraming.parse(frame) {
          precondition(TopicFraming.offsetPrefixed.payload(of: message, at: offset) == bytes)
        }
      }
    }
    if let page = try? RedisStreamsScripts.page(from: value) {
      precondition(page.oldest >= 1 && page.entries.allSatisfy { $0.position > 0 })
    }
    for (range, _) in RedisRouter.slotMap(value) { precondition(range.upperBound < RedisClusterSlot.count) }
  }
}
