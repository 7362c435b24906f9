/// A first-in first-out queue of frames in a ring of slots: a frame moves in and moves out, and an emptied slot
/// holds nothing, so neither end copies a payload's reference or destroys a placeholder.
///
/// An array with a head index had to leave a placeholder frame in each slot it took from and destroy all of them
/// when it emptied (through the frame's value witness, once per message: about 2 % of the server's time at 64 B,
/// docs/decisions/0021). Noncopyable, so that it can own its slots without a class (a class reference in the
/// connection's state was retained and released around every use) and no copy can free them twice.
struct FrameRing: ~Copyable {
  private var slots: UnsafeMutablePointer<Frame>?
  // 32-bit counters: the ring is part of every connection's state, idle ones included (20 bytes instead of 32; a
  // queue of 2^32 frames would hold at least 96 GiB of them).
  /// Slots allocated: 0 until the first frame, then a power of two.
  private var slotCount: UInt32 = 0
  /// The slot of the oldest frame.
  private var first: UInt32 = 0
  /// The number of frames queued.
  private var queued: UInt32 = 0

  /// The number of frames queued.
  var count: Int { Int(queued) }
  private var capacity: Int { Int(slotCount) }
  private var head: Int { Int(first) }

  /// The slots allocated by the first frame: a read's worth of small messages before the ring grows.
  static let initialCapacity = 16

  init() {}

  deinit {
    guard let slots else { return }
    for index in 0..<count { (slots + ((head + index) & (capacity - 1))).deinitialize(count: 1) }
    slots.deallocate()
  }

  /// Queues `frame` at the tail, doubling the ring when it is full.
  @inline(__always)
  mutating func append(_ frame: consuming Frame) {
    if queued == slotCount { grow() }
    (slots.unsafelyUnwrapped + ((head &+ count) & (capacity &- 1))).initialize(to: frame)
    queued &+= 1
  }

  /// Removes and returns the oldest frame; the ring must not be empty.
  @inline(__always)
  mutating func removeFirst() -> Frame {
    precondition(queued > 0, "removeFirst on an empty frame ring")
    let frame = (slots.unsafelyUnwrapped + head).move()
    first = (first &+ 1) & (slotCount &- 1)
    queued &-= 1
    return frame
  }

  /// Moves the frames, oldest first, into twice the slots (``initialCapacity`` the first time).
  @inline(never)
  private mutating func grow() {
    let newCapacity = max(Self.initialCapacity, capacity * 2)
    let newSlots = UnsafeMutablePointer<Frame>.allocate(capacity: newCapacity)
    if let slots {
      let firstRun = min(count, capacity - head)
      newSlots.moveInitialize(from: slots + head, count: firstRun)
      (newSlots + firstRun).moveInitialize(from: slots, count: count - firstRun)
      slots.deallocate()
    }
    slots = newSlots
    slotCount = UInt32(newCapacity)
    first = 0
  }
}
