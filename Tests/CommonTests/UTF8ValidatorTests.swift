import Testing
import WispCommon

/// RFC 6455 section 8.1 (and RFC 3629): text must be UTF-8, checked incrementally, failing on the first bad byte.
@Suite("RFC 6455 section 8.1: UTF-8 validation")
struct UTF8ValidatorTests {
  static let valid: [(String, [UInt8])] = [
    ("empty", []),
    ("ASCII", Array("Hello, world".utf8)),
    ("κόσμε (Autobahn 6.2)", [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5]),
    ("U+0080, first 2-byte", [0xC2, 0x80]),
    ("U+07FF, last 2-byte", [0xDF, 0xBF]),
    ("U+0800, first 3-byte", [0xE0, 0xA0, 0x80]),
    ("U+D7FF, before the surrogates", [0xED, 0x9F, 0xBF]),
    ("U+E000, after the surrogates", [0xEE, 0x80, 0x80]),
    ("U+FFFF", [0xEF, 0xBF, 0xBF]),
    ("U+10000, first 4-byte", [0xF0, 0x90, 0x80, 0x80]),
    ("U+10FFFF, the last code point", [0xF4, 0x8F, 0xBF, 0xBF]),
    ("emoji in ASCII", Array("abc 😀 def 😀😀 a long enough tail to use the vector path".utf8)),
  ]

  /// Each with the index of the first byte at which no valid continuation exists.
  static let invalid: [(String, [UInt8], failsAt: Int)] = [
    ("lone continuation", [0x80], 0),
    ("C0 overlong", [0xC0, 0xAF], 0),
    ("C1 overlong", [0xC1, 0xBF], 0),
    ("E0 overlong (U+002F)", [0xE0, 0x80, 0xAF], 1),
    ("F0 overlong", [0xF0, 0x80, 0x80, 0xAF], 1),
    ("surrogate U+D800", [0xED, 0xA0, 0x80], 1),
    ("surrogate U+DFFF", [0xED, 0xBF, 0xBF], 1),
    ("above U+10FFFF (F4 90)", [0xF4, 0x90, 0x80, 0x80], 1),
    ("F5 lead byte", [0xF5, 0x80, 0x80, 0x80], 0),
    ("FF byte", [0x41, 0xFF], 1),
    ("missing continuation", [0xC2, 0x41], 1),
    ("Autobahn 6.3.1", [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65], 12),
  ]

  static let truncated: [(String, [UInt8])] = [
    ("2-byte cut", [0xC2]),
    ("3-byte cut after 2", [0xE2, 0x82]),
    ("4-byte cut after 3", [0xF0, 0x9F, 0x98]),
  ]

  @Test("valid sequences are accepted, whole and split at every byte")
  func acceptsValid() {
    for (name, bytes) in Self.valid {
      var whole = UTF8Validator()
      let wholeValid = whole.validate(bytes) && whole.isComplete
      #expect(wholeValid, "\(name)")
      for cut in 0...bytes.count {
        var split = UTF8Validator()
        let splitValid = split.validate(bytes[..<cut]) && split.validate(bytes[cut...]) && split.isComplete
        #expect(splitValid, "\(name) cut \(cut)")
      }
    }
  }

  @Test("invalid sequences fail at the first byte that cannot be valid")
  func failsFast() {
    for (name, bytes, failsAt) in Self.invalid {
      var validator = UTF8Validator()
      let prefixValid = validator.validate(bytes[..<failsAt])
      #expect(prefixValid, "\(name): prefix before byte \(failsAt) is still valid")
      let failingByteValid = validator.validate(bytes[failsAt...(failsAt)])
      #expect(!failingByteValid, "\(name): byte \(failsAt) fails")
      #expect(validator.hasFailed)
      let afterFailure = validator.validate([0x41])
      #expect(!afterFailure, "\(name): failure is final")
    }
  }

  @Test("truncated sequences are valid so far but not complete")
  func truncatedIsIncomplete() {
    for (name, bytes) in Self.truncated {
      var validator = UTF8Validator()
      let valid = validator.validate(bytes)
      #expect(valid && !validator.isComplete, "\(name)")
    }
  }

  @Test("agrees with the standard library on seeded random input")
  func agreesWithStandardLibrary() {
    var generator = SeededGenerator(seed: testSeed)
    let alphabet: [[UInt8]] = [
      [0x41], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0x80], [0xC0], [0xED, 0xA0], [0xF4, 0x90],
      [0xFF],
    ]
    for _ in 0..<2000 {
      var bytes: [UInt8] = []
      for _ in 0..<Int.random(in: 0...40, using: &generator) {
        if Int.random(in: 0..<10, using: &generator) < 8 {
          bytes += alphabet[Int.random(in: 0..<4, using: &generator)]
        } else {
          bytes += alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
        }
      }
      let expected = String(validating: bytes, as: UTF8.self) != nil
      var validator = UTF8Validator()
      let actual = validator.validate(bytes) && validator.isComplete
      #expect(actual == expected, "bytes \(bytes), seed \(testSeed)")
    }
  }

  @Test("the vector ASCII path hands over to the automaton mid-block")
  func asciiFastPathBoundaries() {
    for position in 0..<40 {
      var bytes = [UInt8](repeating: 0x61, count: 40)
      bytes[position] = 0xFF
      var validator = UTF8Validator()
      let invalidAccepted = validator.validate(bytes)
      #expect(!invalidAccepted, "invalid byte at \(position)")
      bytes[position] = 0xC3
      if position + 1 < bytes.count { bytes[position + 1] = 0xA9 }
      var valid = UTF8Validator()
      let accepted = valid.validate(bytes) && valid.isComplete
      #expect(accepted == (position + 1 < bytes.count), "2-byte char at \(position)")
    }
  }
}
