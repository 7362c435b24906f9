import Glibc
import Testing
import WispCommon

/// A random source that repeats fixed bytes, so masking keys and handshake keys are reproducible.
struct FixedRandom: SecureRandomSource {
  let pattern: [UInt8]
  init(_ pattern: [UInt8]) { self.pattern = pattern }
  func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    for index in 0..<buffer.count { buffer[index] = pattern[index % pattern.count] }
  }
}

/// SplitMix64: a small seeded generator for reproducible "fuzz-lite" inputs.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The seed for this run's random inputs: `WISP_TEST_SEED` when set (to replay a failure), else fresh.
let testSeed: UInt64 = {
  if let text = getenvString("WISP_TEST_SEED"), let value = UInt64(text) { return value }
  return UInt64.random(in: 0...UInt64.max)
}()

func getenvString(_ name: String) -> String? {
  guard let value = getenv(name) else { return nil }
  return String(cString: value)
}

func randomBytes(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
  // Eight bytes per draw, written in place: the per-byte `random(in:)` made the seeded tests hold a thread of the
  // test run for seconds in debug builds, which delayed every other test's work on the pool.
  var bytes = [UInt8](repeating: 0, count: count)
  bytes.withUnsafeMutableBytes { buffer in
    var offset = 0
    while offset < count {
      var word = generator.next()
      let chunk = min(8, count - offset)
      withUnsafeBytes(of: &word) {
        buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: chunk)
      }
      offset += chunk
    }
  }
  return bytes
}

/// Decodes all frames from `bytes` fed in pieces cut at `cuts`.
func decodeAll(_ bytes: [UInt8], cuts: [Int], configuration: FrameDecoder.Configuration) throws(ProtocolViolation)
  -> [FrameDecoder.DecodedFrame]
{
  var decoder = FrameDecoder(configuration: configuration)
  var frames: [FrameDecoder.DecodedFrame] = []
  var start = 0
  for end in cuts + [bytes.count] where end >= start {
    let piece = Array(bytes[start..<end])
    var offset = 0
    while case .frame(let frame) = try decoder.decode(piece, offset: &offset) { frames.append(frame) }
    #expect(offset == piece.count)
    start = end
  }
  return frames
}

let clientDecoder = FrameDecoder.Configuration(expectsMaskedFrames: false, maxFrameSize: 1 << 24)
let serverDecoder = FrameDecoder.Configuration(expectsMaskedFrames: true, maxFrameSize: 1 << 24)

/// Encodes a frame as a peer would, for feeding to a machine.
func wireFrame(
  fin: Bool = true, opcode: Opcode, rsv: UInt8 = 0, payload: [UInt8], mask: MaskingKey? = nil
) -> [UInt8] {
  var out: [UInt8] = []
  FrameEncoder.encode(fin: fin, opcode: opcode, reservedBits: rsv, payload: payload, maskingKey: mask, into: &out)
  return out
}

let testMask = MaskingKey(0x37, 0xFA, 0x21, 0x3D)
