import Testing
import WispCommon

@Suite("Large buffer recycling")
struct LargeBufferRecyclerTests {
  static let size = 128 * 1024

  /// A buffer that only the caller references. Built by appending: in debug builds the temporary that
  /// `Array(repeating:count:)` returns can stay referenced until the end of the test.
  static func buffer(_ count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.append(contentsOf: repeatElement(0xEE, count: count))
    return bytes
  }

  /// Recycles a new buffer that nothing else references; returns its capacity and whether the recycler took it.
  static func recycleFresh(_ recycler: LargeBufferRecycler, count: Int) -> (capacity: Int, taken: Bool) {
    var bytes: [UInt8] = []
    bytes.append(contentsOf: repeatElement(0xEE, count: count))
    let capacity = bytes.capacity
    recycler.recycle(&bytes)
    return (capacity, bytes.isEmpty)
  }

  @Test("a written buffer becomes spare only once nothing else references it")
  func heldBufferIsNotReused() {
    let recycler = LargeBufferRecycler(maxBuffers: 4, maxBytes: 1 << 20)
    let held = [UInt8](repeating: 7, count: Self.size)
    var written = held
    recycler.recycle(&written)
    #expect(written.isEmpty, "the recycler took the written buffer")
    #expect(recycler.spareCount == 0, "the application still holds the payload")
    #expect(recycler.take(minimumCapacity: Self.size) == nil)
    #expect(held.allSatisfy { $0 == 7 }, "the held payload is untouched")
  }

  /// Debug builds keep extra references to fresh arrays (their lifetimes are not shortened), so a buffer never
  /// looks unreferenced there and is never reused: safe, but nothing to test. These run in release builds
  /// (`swift test -c release -Xswiftc -enable-testing`); `scripts/release-smoke` checks the reuse end to end
  /// (minor page faults of a release server echoing 1 MB messages).
  static let optimized = !_isDebugAssertConfiguration()

  @Test("an unreferenced buffer comes back empty, with its capacity", .enabled(if: optimized))
  func unreferencedBufferIsReused() {
    let recycler = LargeBufferRecycler(maxBuffers: 4, maxBytes: 1 << 20)
    let (capacity, taken) = Self.recycleFresh(recycler, count: Self.size)
    #expect(taken)
    #expect(recycler.spareCount == 1)
    #expect(recycler.take(minimumCapacity: capacity + 1) == nil, "too small for the request")
    let spare = recycler.take(minimumCapacity: Self.size)
    #expect(spare?.isEmpty == true)
    #expect(spare?.capacity == capacity)
    #expect(recycler.spareCount == 0)
  }

  @Test("small buffers are left alone, and the count and bytes kept are bounded", .enabled(if: optimized))
  func bounded() {
    let recycler = LargeBufferRecycler(maxBuffers: 2, maxBytes: 3 * Self.size)
    var small = [UInt8](repeating: 1, count: 1000)
    recycler.recycle(&small)
    #expect(small.count == 1000, "below the minimum: not taken")
    for _ in 0..<5 { _ = Self.recycleFresh(recycler, count: Self.size) }
    #expect(recycler.spareCount == 2, "at most two buffers")
    var huge = Self.buffer(4 * Self.size)
    recycler.recycle(&huge)
    #expect(huge.count == 4 * Self.size, "larger than the byte limit: not taken")
  }

  @Test("buffers of an earlier, smaller workload make room for the current one", .enabled(if: optimized))
  func olderBuffersMakeRoom() {
    let recycler = LargeBufferRecycler(maxBuffers: 2, maxBytes: 16 * Self.size)
    for _ in 0..<2 { _ = Self.recycleFresh(recycler, count: Self.size) }
    #expect(recycler.spareCount == 2)
    for _ in 0..<2 { _ = Self.recycleFresh(recycler, count: 4 * Self.size) }
    #expect(recycler.spareCount == 2)
    #expect(recycler.take(minimumCapacity: 4 * Self.size) != nil, "the larger buffers replaced the smaller ones")
    #expect(recycler.take(minimumCapacity: 4 * Self.size) != nil)
  }

  @Test("the decoder reuses a spare buffer and still decodes large masked frames exactly")
  func decoderReusesSpares() throws {
    var generator = SeededGenerator(seed: testSeed)
    for round in 0..<3 {
      let payload = randomBytes(300_000 + round, using: &generator)
      var wire: [UInt8] = []
      FrameEncoder.encode(
        fin: true, opcode: .binary, payload: payload, maskingKey: MaskingKey(1, 2, 3, 4), into: &wire)
      var decoder = FrameDecoder(
        configuration: .init(expectsMaskedFrames: true, maxFrameSize: 1 << 20))
      var decoded: [UInt8]?
      var start = 0
      // In pieces, as reads deliver it.
      while start < wire.count, decoded == nil {
        let end = min(wire.count, start + 65_536)
        var offset = 0
        if case .frame(let frame) = try decoder.decode(Array(wire[start..<end]), offset: &offset) {
          decoded = frame.payload
        }
        start += offset
      }
      #expect(decoded == payload, "round \(round)")
      // Hand a dirty buffer of the same size to the shared recycler, as a socket does after writing it.
      var written = Self.buffer(400_000)
      LargeBufferRecycler.shared.recycle(&written)
    }
  }
}
