import Synchronization
import Testing
import WispCommon

/// The masking-key generator hands out the source's bytes in order, four per key, each once, refilling a block at a
/// time (RFC 6455 section 5.3: every frame a client sends gets a fresh key from a strong source).
@Suite("Masking keys drawn in blocks")
struct MaskingKeyGeneratorTests {
  /// A source whose bytes count up from 0 across calls (byte `i` of the stream is `i % 251`), and that counts its
  /// calls.
  final class CountingSource: SecureRandomSource {
    let state = Mutex((written: 0, calls: 0))

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
      state.withLock { state in
        for index in 0..<buffer.count { buffer[index] = UInt8((state.written + index) % 251) }
        state.written += buffer.count
        state.calls += 1
      }
    }
  }

  /// The key the stream's bytes `4 * index ..< 4 * index + 4` make.
  static func expectedKey(_ index: Int) -> [UInt8] {
    (0..<4).map { UInt8((4 * index + $0) % 251) }
  }

  static func bytes(_ key: MaskingKey) -> [UInt8] { [key.b0, key.b1, key.b2, key.b3] }

  @Test("every key is the source's next four bytes, across refills; one source call per block of keys")
  func keysFollowTheSourceAcrossRefills() {
    let source = CountingSource()
    var generator = MaskingKeyGenerator(source: source)
    #expect(source.state.withLock { $0.calls } == 0, "nothing is drawn before the first key")
    let count = 3 * MaskingKeyGenerator.keysPerRefill + 5
    for index in 0..<count {
      let key = Self.bytes(generator.nextKey())
      #expect(key == Self.expectedKey(index), "key \(index)")
    }
    #expect(source.state.withLock { $0.calls } == 4)
  }

  @Test("a copy of the generator shares its keys: no key is handed out twice")
  func copiesShareTheirKeys() {
    let source = CountingSource()
    var original = MaskingKeyGenerator(source: source)
    _ = original.nextKey()
    var copy = original
    let fromCopy = Self.bytes(copy.nextKey())
    let fromOriginal = Self.bytes(original.nextKey())
    #expect(fromCopy == Self.expectedKey(1))
    #expect(fromOriginal == Self.expectedKey(2))
  }
}
