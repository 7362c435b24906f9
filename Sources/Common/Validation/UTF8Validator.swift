/// An incremental UTF-8 validator that fails on the first byte that cannot be part of valid UTF-8.
///
/// RFC 6455 section 8.1 requires failing the connection on invalid text; validating incrementally lets an
/// endpoint fail fast, even when a code point is split across frames or reads. The validator is a deterministic
/// automaton over the grammar of RFC 3629 section 4 (no overlong forms, no surrogates U+D800-DFFF, nothing above
/// U+10FFFF), with a fast path that skips ASCII 16 bytes at a time.
public struct UTF8Validator: Sendable, Hashable {
  /// Automaton states. `accept` is a code point boundary; `reject` is final.
  @usableFromInline static let accept: UInt8 = 0
  @usableFromInline static let reject: UInt8 = 1

  @usableFromInline var state: UInt8 = UTF8Validator.accept

  /// Creates a validator at a code point boundary.
  public init() {}

  /// `true` when every byte so far is valid and the input ends on a code point boundary: the condition for a
  /// complete text message.
  @inlinable public var isComplete: Bool { state == Self.accept }

  /// `true` once an invalid byte has been seen; stays `true`.
  @inlinable public var hasFailed: Bool { state == Self.reject }

  /// Resets to the start of a new message.
  @inlinable public mutating func reset() { state = Self.accept }

  /// Feeds `bytes`; returns `false` as soon as an invalid byte is seen (and on every later call).
  @inlinable
  public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let base = bytes.baseAddress else { return state != Self.reject }
    let count = bytes.count
    var index = 0
    var current = state
    while index < count {
      if current == Self.accept {
        // ASCII fast path: whole 16-byte blocks with no high bit.
        while index &+ 16 <= count {
          let block = base.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self)
          if (block & SIMD16(repeating: 0x80)) != SIMD16(repeating: 0) { break }
          index &+= 16
        }
        if index == count { break }
      }
      let byte = base.load(fromByteOffset: index, as: UInt8.self)
      current = Self.transition(current, byte)
      if current == Self.reject {
        state = current
        return false
      }
      index &+= 1
    }
    state = current
    return true
  }

  /// Feeds any collection of bytes.
  @inlinable
  public mutating func validate(_ bytes: some Collection<UInt8>) -> Bool {
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
  public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var validator = UTF8Validator()
    return validator.validate(bytes) && validator.isComplete
  }

  /// One step of the automaton.
  ///
  /// States: 0 accept, 1 reject, 2/3/4 expect 1/2/3 continuation bytes, 5 after E0 (A0-BF next, no overlong),
  /// 6 after ED (80-9F next, no surrogates), 7 after F0 (90-BF next, no overlong), 8 after F4 (80-8F next, at
  /// most U+10FFFF).
  @inlinable @inline(__always)
  static func transition(_ state: UInt8, _ byte: UInt8) -> UInt8 {
    let byteClass = characterClasses[Int(byte)]
    return transitions[Int(state) &* 12 &+ Int(byteClass)]
  }

  /// Byte classes: 0 ASCII, 1 80-8F, 2 90-9F, 3 A0-BF, 4 never valid (C0 C1 F5-FF), 5 C2-DF, 6 E0,
  /// 7 E1-EC EE EF, 8 ED, 9 F0, 10 F1-F3, 11 F4.
  @usableFromInline static let characterClasses: [UInt8] = {
    var table = [UInt8](repeating: 4, count: 256)
    for byte in 0x00...0x7F { table[byte] = 0 }
    for byte in 0x80...0x8F { table[byte] = 1 }
    for byte in 0x90...0x9F { table[byte] = 2 }
    for byte in 0xA0...0xBF { table[byte] = 3 }
    for byte in 0xC2...0xDF { table[byte] = 5 }
    table[0xE0] = 6
    for byte in 0xE1...0xEF { table[byte] = 7 }
    table[0xED] = 8
    table[0xF0] = 9
    for byte in 0xF1...0xF3 { table[byte] = 10 }
    table[0xF4] = 11
    return table
  }()

  /// `transitions[state * 12 + class]`; every entry not listed is reject (1).
  @usableFromInline static let transitions: [UInt8] = {
    var table = [UInt8](repeating: 1, count: 9 * 12)
    func set(_ state: Int, _ classes: [Int], _ next: UInt8) {
      for byteClass in classes { table[state * 12 + byteClass] = next }
    }
    set(0, [0], 0)
    set(0, [5], 2)
    set(0, [6], 5)
    set(0, [7], 3)
    set(0, [8], 6)
    set(0, [9], 7)
    set(0, [10], 4)
    set(0, [11], 8)
    set(2, [1, 2, 3], 0)
    set(3, [1, 2, 3], 2)
    set(4, [1, 2, 3], 3)
    set(5, [3], 2)
    set(6, [1, 2], 2)
    set(7, [2, 3], 3)
    set(8, [1], 3)
    return table
  }()
}
