import Testing

@testable import WispCommon

@Suite("The session's frame queue (a ring of slots)")
struct FrameRingTests {
  /// A frame whose payload names its position in the sequence.
  static func frame(_ number: Int) -> Frame { .binary(withUnsafeBytes(of: UInt32(number)) { Array($0) }) }

  @Test("frames leave in arrival order across wrap-arounds and growth, and each slot gives up its frame")
  func order() {
    var ring = FrameRing()
    var generator = SeededGenerator(seed: testSeed)
    var next = 0
    var expected = 0
    // Random runs of appends and removals: the head wraps around the slots many times, and the ring grows while
    // its frames wrap (16, 32, 64 slots).
    for _ in 0..<2_000 {
      for _ in 0..<Int.random(in: 0...20, using: &generator) where ring.count < 60 {
        ring.append(Self.frame(next))
        next += 1
      }
      for _ in 0..<Int.random(in: 0...20, using: &generator) where ring.count > 0 {
        #expect(ring.removeFirst() == Self.frame(expected), "seed \(testSeed)")
        expected += 1
      }
      #expect(ring.count == next - expected)
    }
    #expect(next > 1_000)
  }

  @Test("a taken payload is moved out (the ring keeps no reference), and frames left queued are released")
  func ownership() {
    var ring = FrameRing()
    ring.append(.binary([UInt8](repeating: 7, count: 100)))
    var taken = ring.removeFirst().data
    // Unique: writing to it does not copy the storage.
    let before = taken.withUnsafeBufferPointer { $0.baseAddress }
    taken[0] = 9
    #expect(taken.withUnsafeBufferPointer { $0.baseAddress } == before)

    var shared = [UInt8](repeating: 1, count: 100)
    do {
      var queued = FrameRing()
      for number in 0..<40 { queued.append(number == 20 ? .binary(shared) : Self.frame(number)) }
      for _ in 0..<10 { _ = queued.removeFirst() }
      #expect(queued.count == 30)
    }
    // The ring that still held `shared` is gone: its reference went with it, so writing does not copy.
    let address = shared.withUnsafeBufferPointer { $0.baseAddress }
    shared[0] = 2
    #expect(shared.withUnsafeBufferPointer { $0.baseAddress } == address)
  }
}
