import Testing
import WispCommon

/// Seeded random inputs on every run ("fuzz-lite"); the seed is in every failure message, and
/// `WISP_TEST_SEED=<seed> swift test` replays it.
@Suite("Seeded random inputs to the parsers")
struct FuzzLiteTests {
  static func randomFrames(_ generator: inout SeededGenerator) -> [(fin: Bool, opcode: Opcode, payload: [UInt8])] {
    var frames: [(Bool, Opcode, [UInt8])] = []
    var open = false
    for _ in 0..<Int.random(in: 1...12, using: &generator) {
      let roll = Int.random(in: 0..<10, using: &generator)
      if roll < 2 {
        let opcode: Opcode = [.ping, .pong][Int.random(in: 0...1, using: &generator)]
        frames.append((true, opcode, randomBytes(Int.random(in: 0...125, using: &generator), using: &generator)))
      } else {
        let fin = Bool.random(using: &generator)
        let opcode: Opcode = open ? .continuation : .binary
        let sizes = [0, 1, 125, 126, 127, 255, 256, 257, 1000, 65535, 65536, 70000]
        let size = sizes[Int.random(in: 0..<sizes.count, using: &generator)]
        frames.append((fin, opcode, randomBytes(size, using: &generator)))
        open = !fin
      }
    }
    return frames
  }

  static func randomCuts(_ count: Int, _ generator: inout SeededGenerator) -> [Int] {
    (0..<Int.random(in: 0...8, using: &generator)).map { _ in Int.random(in: 0...count, using: &generator) }.sorted()
  }

  /// The wire bytes of `frames`, each with a random masking key when `masked` (as a client sends them).
  static func encode(
    _ frames: [(fin: Bool, opcode: Opcode, payload: [UInt8])], masked: Bool, _ generator: inout SeededGenerator
  ) -> [UInt8] {
    var bytes: [UInt8] = []
    for frame in frames {
      let key =
        masked
        ? MaskingKey(.random(in: 0...255, using: &generator), 1, 2, .random(in: 0...255, using: &generator)) : nil
      FrameEncoder.encode(fin: frame.fin, opcode: frame.opcode, payload: frame.payload, maskingKey: key, into: &bytes)
    }
    return bytes
  }

  /// Expects `decoded` to be `frames`, frame by frame.
  static func expectSame(
    _ decoded: [FrameDecoder.DecodedFrame], _ frames: [(fin: Bool, opcode: Opcode, payload: [UInt8])], round: Int
  ) {
    #expect(decoded.count == frames.count, "round \(round) seed \(testSeed)")
    for (got, want) in zip(decoded, frames) {
      #expect(
        got.header.fin == want.fin && got.header.opcode == want.opcode && got.payload == want.payload,
        "round \(round) seed \(testSeed)")
    }
  }

  @Test("random valid frames survive encode, random splits and decode unchanged, both masking directions")
  func roundTrip() throws {
    var generator = SeededGenerator(seed: testSeed)
    for round in 0..<100 {
      let frames = Self.randomFrames(&generator)
      let masked = Bool.random(using: &generator)
      let bytes = Self.encode(frames, masked: masked, &generator)
      let decoded = try decodeAll(
        bytes, cuts: Self.randomCuts(bytes.count, &generator), configuration: masked ? serverDecoder : clientDecoder)
      Self.expectSame(decoded, frames, round: round)
    }
  }

  @Test("payload read straight into the frame (fillPayload) in random pieces decodes the same as through decode")
  func directFills() throws {
    var generator = SeededGenerator(seed: testSeed)
    for round in 0..<100 {
      let frames = Self.randomFrames(&generator)
      let masked = Bool.random(using: &generator)
      let bytes = Self.encode(frames, masked: masked, &generator)
      // A reader that alternates at random between the decoder's input and direct fills, as the socket does.
      var decoder = FrameDecoder(configuration: masked ? serverDecoder : clientDecoder)
      var decoded: [FrameDecoder.DecodedFrame] = []
      var position = 0
      while position < bytes.count {
        let piece = Int.random(in: 1...40_000, using: &generator)
        if decoder.outstandingPayloadCount > 0 && Bool.random(using: &generator) {
          let declined = Int.random(in: 0..<8, using: &generator) == 0
          let outstanding = decoder.outstandingPayloadCount
          let result = decoder.fillPayload { destination in
            #expect(destination.count > 0 && destination.count <= outstanding, "never past the frame's end")
            if declined { return -1 }
            let count = min(piece, destination.count, bytes.count - position)
            bytes.withUnsafeBytes { source in
              destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[position..<position + count]))
            }
            return count
          }
          #expect(decoder.outstandingPayloadCount == outstanding - max(0, result))
          if result > 0 { position += result }
          var offset = 0
          while case .frame(let frame) = try decoder.decode([], offset: &offset) { decoded.append(frame) }
        } else {
          let end = min(bytes.count, position + piece)
          let input = Array(bytes[position..<end])
          var offset = 0
          while case .frame(let frame) = try decoder.decode(input, offset: &offset) { decoded.append(frame) }
          position = end
        }
      }
      Self.expectSame(decoded, frames, round: round)
    }
  }

  @Test("corrupted streams never trap, and give the same events however they are split")
  func corruptedStreams() async {
    var generator = SeededGenerator(seed: testSeed)
    for round in 0..<150 {
      // A turn for the other tests' jobs between rounds: a long synchronous loop holds one of the few threads of
      // the pool that every test of the run shares.
      await Task.yield()
      var bytes: [UInt8] = []
      for frame in Self.randomFrames(&generator) {
        let opcode = frame.opcode == .binary && Bool.random(using: &generator) ? Opcode.text : frame.opcode
        FrameEncoder.encode(
          fin: frame.fin, opcode: opcode, payload: frame.payload.map { $0 & 0x7F }, maskingKey: testMask, into: &bytes)
      }
      for _ in 0..<Int.random(in: 0...4, using: &generator) where !bytes.isEmpty {
        bytes[Int.random(in: 0..<bytes.count, using: &generator)] = .random(in: 0...255, using: &generator)
      }
      let configuration = ConnectionStateMachine.Configuration(
        role: .server, maxFrameSize: 1 << 17, maxMessageSize: 1 << 18)
      var whole = ConnectionStateMachine(configuration: configuration)
      let expected = whole.receive(bytes)
      var split = ConnectionStateMachine(configuration: configuration)
      var events: [ConnectionEvent] = []
      var start = 0
      for end in Self.randomCuts(bytes.count, &generator) + [bytes.count] {
        events += split.receive(Array(bytes[start..<end]))
        start = end
      }
      #expect(events == expected, "round \(round) seed \(testSeed)")
      if case .failed(let violation)? = expected.last {
        #expect(whole.state == .closed && whole.failure == violation)
      }
    }
  }

  @Test("random garbage into the decoder and the state machine never traps")
  func garbage() {
    var generator = SeededGenerator(seed: testSeed)
    for _ in 0..<250 {
      let bytes = randomBytes(Int.random(in: 0...300, using: &generator), using: &generator)
      for role in [ConnectionStateMachine.Role.client, .server] {
        for mode in [ConnectionStateMachine.Mode.default, .raw] {
          var machine = ConnectionStateMachine(configuration: .init(role: role, mode: mode, maxFrameSize: 4096))
          _ = machine.receive(bytes)
          _ = machine.receiveEndOfStream()
          #expect(machine.state == .closed)
        }
      }
    }
  }

  @Test("mutated handshake requests never trap and parse the same whole or split")
  func handshakeMutations() {
    var generator = SeededGenerator(seed: testSeed)
    let sample = Array(HandshakeTests.sampleRequest.utf8)
    for round in 0..<500 {
      var bytes = sample
      for _ in 0..<Int.random(in: 0...6, using: &generator) {
        let index = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: bytes[index] = .random(in: 0...255, using: &generator)
        case 1: bytes.remove(at: index)
        default: bytes.insert(.random(in: 0...255, using: &generator), at: index)
        }
      }
      let whole = Self.parse(bytes, cuts: [])
      let split = Self.parse(bytes, cuts: Self.randomCuts(bytes.count, &generator))
      #expect(whole == split, "round \(round) seed \(testSeed)")
    }
  }

  /// Parses and validates a request fed in pieces; a comparable summary of the outcome.
  static func parse(_ bytes: [UInt8], cuts: [Int]) -> String {
    var parser = HTTPHeadParser()
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
      let piece = Array(bytes[start..<end])
      start = end
      let result = piece.withUnsafeBytes { raw in
        var offset = 0
        return Result { () throws(HandshakeError) in try parser.parseRequest(raw, offset: &offset) }
      }
      switch result {
      case .failure(let error): return "error \(error)"
      case .success(nil): continue
      case .success(let head?):
        do {
          let upgrade = try ServerHandshake.validate(head)
          return "upgrade \(upgrade.key) \(upgrade.subprotocols)"
        } catch {
          return "rejected \(error)"
        }
      }
    }
    return "incomplete"
  }
}
