import Testing
import WispCommon

@Suite("RFC 6455 section 5.3: masking")
struct MaskingTests {
  /// The obvious byte-at-a-time definition from section 5.3, as the oracle.
  static func naiveMask(_ bytes: [UInt8], key: MaskingKey, phase: Int) -> [UInt8] {
    bytes.enumerated().map { $0.element ^ key[phase + $0.offset] }
  }

  @Test("the vector implementation equals the byte-wise definition for every length and phase")
  func matchesDefinition() {
    var generator = SeededGenerator(seed: testSeed)
    for length in Array(0...200) + [1023, 1024, 4095, 4096, 4097, 65_537] {
      let bytes = randomBytes(length, using: &generator)
      let key = MaskingKey(
        .random(in: 0...255, using: &generator), .random(in: 0...255, using: &generator),
        .random(in: 0...255, using: &generator), .random(in: 0...255, using: &generator))
      for phase in 0..<4 {
        var masked = bytes
        Masking.apply(key, phase: phase, to: &masked, range: 0..<masked.count)
        #expect(
          masked == Self.naiveMask(bytes, key: key, phase: phase), "length \(length) phase \(phase) seed \(testSeed)")
        Masking.apply(key, phase: phase, to: &masked, range: 0..<masked.count)
        #expect(masked == bytes, "masking twice restores the input")
        let copied = bytes.withUnsafeBytes { Masking.maskedCopy(key, phase: phase, of: $0) }
        #expect(copied == Self.naiveMask(bytes, key: key, phase: phase), "masked copy, length \(length) phase \(phase)")
      }
    }
  }

  @Test("appending MaskedBytes, through spare capacity or byte by byte, equals the byte-wise definition")
  func maskedBytes() {
    var generator = SeededGenerator(seed: testSeed)
    for length in [0, 1, 15, 16, 17, 63, 64, 65, 1000, 4096] {
      let bytes = randomBytes(length, using: &generator)
      let key = MaskingKey(
        .random(in: 0...255, using: &generator), .random(in: 0...255, using: &generator),
        .random(in: 0...255, using: &generator), .random(in: 0...255, using: &generator))
      for phase in 0..<4 {
        let expected = Self.naiveMask(bytes, key: key, phase: phase)
        var output: [UInt8] = [0xAA, 0xBB]
        bytes.withUnsafeBytes { output.append(contentsOf: MaskedBytes($0, key: key, phase: phase)) }
        #expect(output == [0xAA, 0xBB] + expected, "append, length \(length) phase \(phase)")
        let iterated = bytes.withUnsafeBytes { raw in MaskedBytes(raw, key: key, phase: phase).map { $0 } }
        #expect(iterated == expected, "iterator, length \(length) phase \(phase)")
      }
    }
  }

  @Test("unmasking in pieces with the running phase equals unmasking at once")
  func piecewise() {
    let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 13) }
    let key = MaskingKey(9, 8, 7, 6)
    let expected = Self.naiveMask(bytes, key: key, phase: 0)
    for cut in [1, 2, 3, 5, 17, 63, 64, 65, 999] {
      var data = bytes
      Masking.apply(key, phase: 0, to: &data, range: 0..<cut)
      Masking.apply(key, phase: cut & 3, to: &data, range: cut..<data.count)
      #expect(data == expected, "cut \(cut)")
    }
  }
}
