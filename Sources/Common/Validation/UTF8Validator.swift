/// An incremental UTF-8 validator that fails on the first byte that cannot be part of valid UTF-8.
///
/// RFC 6455 section 8.1 requires failing the connection on invalid text; validating incrementally lets an
/// endpoint fail fast, even when a code point is split across frames or reads. The validator is a deterministic
/// automaton over the grammar of RFC 3629 section 4 (no overlong forms, no surrogates U+D800-DFFF, nothing above
/// U+10FFFF), with a fast path that skips ASCII 16 bytes at a time.
package struct UTF8Validator: Sendable, Hashable {
  /// Automaton states, stored as bit offsets into a row of ``rows`` (state number times 6). `accept` is a code
  /// point boundary; `reject` is final.
  @usableFromInline static let accept: UInt64 = 0
  @usableFromInline static let reject: UInt64 = 6

  @usableFromInline var state: UInt64 = UTF8Validator.accept

  /// Creates a validator at a code point boundary.
  package init() {}

  /// `true` when every byte so far is valid and the input ends on a code point boundary: the condition for a
  /// complete text message.
  @inlinable package var isComplete: Bool { state == Self.accept }

  /// `true` once an invalid byte has been seen; stays `true`.
  @inlinable package var hasFailed: Bool { state == Self.reject }

  /// Resets to the start of a new message.
  @inlinable package mutating func reset() { state = Self.accept }

  /// Feeds `bytes`; returns `false` when they contain an invalid byte (and on every later call). The verdict is
  /// given for each call as a whole, so a caller that feeds data as it arrives fails on the read that brought
  /// the first invalid byte.
  ///
  /// ASCII is skipped 64 (then 32) bytes at a time (64-bit words OR-ed and tested for a high bit together); other bytes take one
  /// table lookup and one shift each ("shift-based DFA": a byte's row holds the next state of every state, and
  /// the shift by the current state selects it, so the dependency chain per byte is a single shift). The reject
  /// state is absorbing, so it is tested once per 16-byte block rather than per byte.
  @inlinable
  package mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let base = bytes.baseAddress else { return state != Self.reject }
    let count = bytes.count
    let highBits: UInt64 = 0x8080_8080_8080_8080
    var index = 0
    // The state in the low 6 bits; the bits above are ignored, because shifts use the count modulo 64.
    var current = state
    Self.rows.withUnsafeBufferPointer { rows in
      while index < count {
        if current & 63 == Self.accept {
          while index &+ 64 <= count {
            var word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 16, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 24, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 32, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 40, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 48, as: UInt64.self)
            word |= base.loadUnaligned(fromByteOffset: index &+ 56, as: UInt64.self)
            if word & highBits != 0 { break }
            index &+= 64
          }
          while index &+ 32 <= count {
            let word =
              base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
              | base.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
              | base.loadUnaligned(fromByteOffset: index &+ 16, as: UInt64.self)
              | base.loadUnaligned(fromByteOffset: index &+ 24, as: UInt64.self)
            if word & highBits != 0 { break }
            index &+= 32
          }
        }
        let blockEnd = min(index &+ 16, count)
        while index < blockEnd {
          current = rows[Int(base.load(fromByteOffset: index, as: UInt8.self))] &>> current
          index &+= 1
        }
        if current & 63 == Self.reject { break }
      }
    }
    state = current & 63
    return state != Self.reject
  }

  /// Feeds any collection of bytes.
  @inlinable
  package mutating func validate(_ bytes: some Collection<UInt8>) -> Bool {
    if let result = bytes.withContiguousStorageIfAvailable({ validate(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    for byte in bytes {
      state = Self.transition(state, byte)
      if state == Self.reject { return false }
    }
    return true
  }

  /// Validates a whole buffer as one complete text.
  @inlinable
  package static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var validator = UTF8Validator()
    return validator.validate(bytes) && validator.isComplete
  }

  /// One step of the automaton.
  @inlinable @inline(__always)
  static func transition(_ state: UInt64, _ byte: UInt8) -> UInt64 {
    (rows[Int(byte)] &>> state) & 63
  }

  /// `rows[byte] >> state & 63` is the next state. States (number times 6): 0 accept, 1 reject, 2/3/4 expect
  /// 1/2/3 continuation bytes, 5 after E0 (A0-BF next, no overlong), 6 after ED (80-9F next, no surrogates),
  /// 7 after F0 (90-BF next, no overlong), 8 after F4 (80-8F next, at most U+10FFFF).
  @usableFromInline static let rows: [UInt64] = {
    // Byte classes: 0 ASCII, 1 80-8F, 2 90-9F, 3 A0-BF, 4 never valid (C0 C1 F5-FF), 5 C2-DF, 6 E0,
    // 7 E1-EC EE EF, 8 ED, 9 F0, 10 F1-F3, 11 F4.
    func byteClass(_ byte: Int) -> Int {
      switch byte {
      case 0x00...0x7F: 0
      case 0x80...0x8F: 1
      case 0x90...0x9F: 2
      case 0xA0...0xBF: 3
      case 0xC2...0xDF: 5
      case 0xE0: 6
      case 0xED: 8
      case 0xE1...0xEF: 7
      case 0xF0: 9
      case 0xF1...0xF3: 10
      case 0xF4: 11
      default: 4
      }
    }
    // next[state][class]; every entry not listed is reject (1).
    var next = [[UInt64]](repeating: [UInt64](repeating: 1, count: 12), count: 9)
    for (byteClass, target) in [(0, 0), (5, 2), (6, 5), (7, 3), (8, 6), (9, 7), (10, 4), (11, 8)] as [(Int, UInt64)] {
      next[0][byteClass] = target
    }
    for byteClass in [1, 2, 3] {
      next[2][byteClass] = 0
      next[3][byteClass] = 2
      next[4][byteClass] = 3
    }
    next[5][3] = 2
    next[6][1] = 2
    next[6][2] = 2
    next[7][2] = 3
    next[7][3] = 3
    next[8][1] = 3
    return (0..<256).map { byte in
      var row: UInt64 = 0
      for state in 0..<9 { row |= (next[state][byteClass(byte)] * 6) << UInt64(state * 6) }
      return row
    }
  }()
}
