// The codec benchmark: decode/encode throughput per frame size, unmasking next to a plain memory copy, and UTF-8
// validation next to the standard library's, all in one run so the figures are ratios on the same machine.
//
//   swift run -c release wisp-codec-bench [seconds-per-case]
import Glibc
import WispCommon

@inline(never) func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

let secondsPerCase: Double = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 0.5
let clock = ContinuousClock()

/// Runs `body` (which processes `bytesPerCall` bytes) repeatedly for about `secondsPerCase`; returns bytes/s and
/// calls/s.
func measure(_ bytesPerCall: Int, _ body: () -> Void) -> (bytesPerSecond: Double, callsPerSecond: Double) {
  for _ in 0..<3 { body() }
  var calls = 0
  var batch = 1
  let start = clock.now
  var elapsed = Duration.zero
  while elapsed < .milliseconds(Int(secondsPerCase * 1000)) {
    for _ in 0..<batch { body() }
    calls += batch
    batch = min(batch * 2, 1 << 16)
    elapsed = clock.now - start
  }
  let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
  return (Double(calls * bytesPerCall) / seconds, Double(calls) / seconds)
}

func format(_ bytesPerSecond: Double) -> String {
  let gbs = bytesPerSecond / 1e9
  return gbs >= 1 ? "\(rounded(gbs)) GB/s" : "\(rounded(bytesPerSecond / 1e6)) MB/s"
}

func rounded(_ value: Double) -> String {
  let scaled = (value * 100).rounded() / 100
  return "\(scaled)"
}

func row(_ columns: [String]) {
  print(
    columns.enumerated().map { index, text in
      let width = index == 0 ? 34 : 16
      return text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }.joined())
}

@inline(never) func validateWithWisp(_ bytes: UnsafeRawBufferPointer) -> Bool {
  var validator = UTF8Validator()
  return validator.validate(bytes) && validator.isComplete
}

@inline(never) func validateWithStandardLibrary(_ bytes: [UInt8]) -> Bool {
  (try? UTF8Span(validating: bytes.span)) != nil
}

print("Wisp codec benchmark (\(secondsPerCase) s per case)\n")
row(["case", "throughput", "frames/s"])

let sizes: [(String, Int, Int)] = [("64 B", 64, 1024), ("4 KiB", 4096, 64), ("1 MiB", 1 << 20, 1)]
for (label, size, framesPerBuffer) in sizes {
  // Decode: a buffer of masked client frames, as a server reads them.
  var stream: [UInt8] = []
  let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
  for index in 0..<framesPerBuffer {
    FrameEncoder.encode(
      fin: true, opcode: .binary, payload: payload, maskingKey: MaskingKey(1, 2, 3, UInt8(truncatingIfNeeded: index)),
      into: &stream)
  }
  let decodeResult = stream.withUnsafeBytes { raw in
    measure(size * framesPerBuffer) {
      var decoder = FrameDecoder(configuration: .init(expectsMaskedFrames: true, maxFrameSize: 1 << 24))
      var offset = 0
      while case .frame(let frame) = try! decoder.decode(raw, offset: &offset) { blackHole(frame) }
    }
  }
  row([
    "decode \(label) masked", format(decodeResult.bytesPerSecond),
    "\(Int(decodeResult.callsPerSecond) * framesPerBuffer)",
  ])

  // Encode: masked client frames into a reused output buffer.
  var output: [UInt8] = []
  output.reserveCapacity(stream.count)
  let key = MaskingKey(9, 8, 7, 6)
  let encodeResult = measure(size * framesPerBuffer) {
    output.removeAll(keepingCapacity: true)
    for _ in 0..<framesPerBuffer {
      FrameEncoder.encode(fin: true, opcode: .binary, payload: payload, maskingKey: key, into: &output)
    }
    blackHole(output)
  }
  row([
    "encode \(label) masked", format(encodeResult.bytesPerSecond),
    "\(Int(encodeResult.callsPerSecond) * framesPerBuffer)",
  ])
}

print("")
// Unmasking in place next to copying the same 1 MiB buffer.
var buffer = [UInt8](repeating: 0x5A, count: 1 << 20)
var destination = [UInt8](repeating: 0, count: 1 << 20)
let unmask = buffer.withUnsafeMutableBytes { raw in
  measure(raw.count) {
    Masking.apply(MaskingKey(1, 2, 3, 4), phase: 1, to: raw)
    blackHole(raw.baseAddress)
  }
}
let copy = buffer.withUnsafeBytes { source in
  destination.withUnsafeMutableBytes { target in
    measure(source.count) {
      target.copyMemory(from: source)
      blackHole(target.baseAddress)
    }
  }
}
row([
  "unmask 1 MiB in place", format(unmask.bytesPerSecond),
  "ratio \(rounded(unmask.bytesPerSecond / copy.bytesPerSecond))x copy",
])
row(["memory copy 1 MiB", format(copy.bytesPerSecond), ""])

print("")
let ascii = Array(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 1500).utf8)
let mixed = Array(String(repeating: "Größenmaßstäbe: κόσμε, 日本語テキスト, emoji 😀 and ASCII. ", count: 600).utf8)
for (label, original) in [("ASCII", ascii), ("mixed UTF-8", mixed)] {
  // Each call toggles a bit of the first (ASCII) byte so that the optimizer cannot hoist the validation.
  var text = original
  let ours = text.withUnsafeMutableBytes { raw in
    measure(raw.count) {
      raw[0] ^= 1
      blackHole(validateWithWisp(UnsafeRawBufferPointer(raw)))
    }
  }
  let stdlib = measure(text.count) {
    text[0] ^= 1
    blackHole(validateWithStandardLibrary(text))
  }
  row([
    "UTF-8 validate \(label) \(text.count / 1024) KiB", format(ours.bytesPerSecond),
    "ratio \(rounded(ours.bytesPerSecond / stdlib.bytesPerSecond))x stdlib",
  ])
  row(["stdlib UTF8Span(validating:)", format(stdlib.bytesPerSecond), ""])
}
