/// Identifies a timer of a ``TimerQueue`` for cancellation.
package struct TimerHandle: Hashable, Sendable {
  /// The timer's number, unique in its queue.
  package let id: UInt64

  /// The handle of timer number `id`.
  @inlinable package init(id: UInt64) { self.id = id }
}

/// Timers in a binary min-heap of deadlines (nanoseconds of a monotonic clock): an event loop's (on its thread) and
/// the ``ManualSessionClock``'s callbacks (under its lock). Scheduling and cancelling cost O(log n), so a million
/// sessions' keepalive timers cost no more per timer than a thousand. Not thread-safe: its owner serializes it.
package struct TimerQueue {
  /// What a timer runs. Not a generic parameter: an event loop fires a timer per keepalive ping, and unspecialized
  /// generic code across the module boundary (metadata lookups, reabstraction thunks) cost a fifth of a ping.
  package typealias Body = () -> Void

  /// Identifies a scheduled timer for cancellation.
  package typealias Handle = TimerHandle

  @usableFromInline
  struct Entry {
    @usableFromInline let deadline: UInt64
    @usableFromInline let id: UInt64

    @inlinable
    init(deadline: UInt64, id: UInt64) {
      self.deadline = deadline
      self.id = id
    }
  }

  /// Deadlines in heap order. A cancelled timer's entry stays until it reaches the top (or a compaction), but its
  /// body is released at once: bodies capture connections and their buffers, and a burst of short connections
  /// (each with a handshake deadline of seconds, cancelled when it ends) held megabytes until the deadlines passed.
  @usableFromInline var heap: [Entry] = []
  /// A timer's place: its identifier while it is scheduled (0 while the slot is free) and its body. Timers are found
  /// by slot, not hashed: a keepalive round schedules and cancels a timer several times per session, and the
  /// dictionary this replaces was a fifth of the queue's cost. The body is a struct's field: a closure stored in a
  /// generic container directly is reabstracted, and the thunk's context is one more allocation per timer.
  @usableFromInline
  struct Slot {
    @usableFromInline var id: UInt64
    @usableFromInline var body: Body?

    @inlinable init(id: UInt64, body: Body?) {
      self.id = id
      self.body = body
    }
  }

  /// A timer's identifier: a sequence number above ``slotBits`` (so identifiers grow with scheduling order, which
  /// ``popDue(now:scheduledUpTo:)`` relies on) and its slot below.
  @usableFromInline static var slotBits: UInt64 { 24 }
  @usableFromInline static var slotMask: UInt64 { (1 << slotBits) - 1 }

  /// The slots of the timers that are scheduled and neither fired nor cancelled, and free ones.
  @usableFromInline var slots: [Slot] = []
  /// Free slots, reused before new ones.
  @usableFromInline var freeSlots: [UInt32] = []
  @usableFromInline var live = 0
  /// Entries of the heap whose timer was cancelled.
  @usableFromInline var cancelledEntries = 0
  @usableFromInline var sequence: UInt64 = 0
  @usableFromInline var nextID: UInt64 = 0

  /// An empty queue.
  @inlinable package init() {}

  /// Schedules `body` for `deadline`; returns its handle for ``cancel(_:)``. At most 16,777,216 timers at once.
  @inlinable
  package mutating func schedule(deadline: UInt64, _ body: @escaping Body) -> Handle {
    sequence &+= 1
    let slot: Int
    if let free = freeSlots.popLast() {
      slot = Int(free)
    } else {
      slot = slots.count
      precondition(UInt64(slot) <= Self.slotMask, "more than 16,777,216 timers in one queue")
      slots.append(Slot(id: 0, body: nil))
    }
    let id = sequence << Self.slotBits | UInt64(slot)
    slots[slot] = Slot(id: id, body: body)
    nextID = id
    live += 1
    heap.append(Entry(deadline: deadline, id: id))
    siftUp(heap.count - 1)
    return Handle(id: id)
  }

  /// Whether the timer `id` is scheduled (neither fired nor cancelled).
  @inlinable
  func isLive(_ id: UInt64) -> Bool {
    let slot = Int(truncatingIfNeeded: id & Self.slotMask)
    return slot < slots.count && slots[slot].id == id
  }

  /// Takes the body of the live timer `id` out of its slot and frees the slot; `nil` when it is not live.
  @inlinable
  mutating func take(_ id: UInt64) -> Body? {
    let slot = Int(truncatingIfNeeded: id & Self.slotMask)
    guard slot < slots.count, slots[slot].id == id else { return nil }
    let body = slots[slot].body
    slots[slot] = Slot(id: 0, body: nil)
    freeSlots.append(UInt32(truncatingIfNeeded: slot))
    live -= 1
    return body
  }

  /// Cancels a timer and returns its body, released from the queue; `nil` when it already fired or was cancelled.
  /// When cancelled entries outnumber live ones (and there are more than 64), the heap is rebuilt without them, so
  /// it stays within twice the live timers.
  @discardableResult
  @inlinable
  package mutating func cancel(_ handle: Handle) -> Body? {
    guard let body = take(handle.id) else { return nil }
    cancelledEntries += 1
    if cancelledEntries > 64 && cancelledEntries > live { compact() }
    return body
  }

  /// The number of timers scheduled and neither fired nor cancelled.
  @inlinable
  package var liveCount: Int { live }

  /// The number of entries in the heap, cancelled ones included (bounded by twice ``liveCount`` plus 64).
  @inlinable
  package var entryCount: Int { heap.count }

  /// The deadline of a timer `delay` nanoseconds after `now`, with slack: rounded up to a multiple of the largest
  /// power of two of nanoseconds within the slack, so that timers due close together fire on one wake-up of their
  /// loop instead of one each (issue 34: at a million sessions a wake-up per keepalive ping was most of its cost).
  /// The slack is `leeway` (at most 2^31 ns, 2.1 s) or, when larger, a thousandth of a delay of 2^30 ns (1.07 s) or
  /// more (at most 2^25 ns, 33.6 ms), as Linux's own `poll` and `select` allow their timeouts. Never earlier than
  /// asked.
  @inlinable
  package static func deadline(now: UInt64, delay: UInt64, leeway: UInt64 = 0) -> UInt64 {
    let exact = now &+ delay
    let proportional = delay >= 1 << 30 ? min(delay >> 10, 1 << 25) : 0
    let slack = min(max(proportional, leeway), 1 << 31)
    guard slack > 1 else { return exact }
    let mask = (UInt64(1) << (63 - slack.leadingZeroBitCount)) - 1
    let (rounded, overflow) = (exact | mask).addingReportingOverflow(1)
    return overflow ? exact : rounded
  }

  /// The epoll timeout until the next live timer: -1 (none), or milliseconds rounded up.
  @inlinable
  package mutating func millisecondsUntilNext(now: UInt64) -> Int32 {
    dropCancelledHead()
    guard let first = heap.first else { return -1 }
    if first.deadline <= now { return 0 }
    let milliseconds = (first.deadline - now + 999_999) / 1_000_000
    return Int32(min(milliseconds, UInt64(Int32.max)))
  }

  /// Removes and returns the body of the earliest live timer whose deadline is `now` or earlier, or `nil`. A caller
  /// that holds a lock takes the bodies one by one and runs them after releasing it.
  ///
  /// With `scheduledUpTo` (a ``lastScheduledID`` read before the caller began to fire), a timer scheduled since is
  /// not taken, nor anything behind it: it waits for the caller's next round. An event loop fires that way, so that
  /// a timer whose body schedules another for a deadline already passed cannot keep the loop in its timers (the
  /// next turn runs the jobs that body started first).
  @inlinable
  package mutating func popDue(now: UInt64, scheduledUpTo: UInt64 = .max) -> Body? {
    popDueTimer(now: now, scheduledUpTo: scheduledUpTo)?.body
  }

  /// ``popDue(now:scheduledUpTo:)`` with the timer's handle, for an owner that keeps what a timer wakes beside the
  /// queue, by handle.
  @inlinable
  package mutating func popDueTimer(
    now: UInt64, scheduledUpTo: UInt64 = .max
  ) -> (handle: TimerHandle, body: Body)? {
    while let first = heap.first, first.deadline <= now, first.id <= scheduledUpTo {
      removeFirst()
      guard let body = take(first.id) else {
        cancelledEntries -= 1
        continue
      }
      return (TimerHandle(id: first.id), body)
    }
    return nil
  }

  /// The identifier of the last timer scheduled (0 before the first): see ``popDue(now:scheduledUpTo:)``.
  @inlinable
  package var lastScheduledID: UInt64 { nextID }

  /// The deadlines of the live timers, in no order.
  @inlinable
  package var liveDeadlines: [UInt64] { heap.filter { isLive($0.id) }.map(\.deadline) }

  @inlinable
  mutating func dropCancelledHead() {
    while let first = heap.first, !isLive(first.id) {
      removeFirst()
      cancelledEntries -= 1
    }
  }

  /// Rebuilds the heap from the live entries (Floyd's bottom-up construction, linear time).
  @inlinable
  mutating func compact() {
    var entries = heap
    heap = []
    entries.removeAll { !isLive($0.id) }
    heap = entries
    cancelledEntries = 0
    var index = heap.count / 2 - 1
    while index >= 0 {
      siftDown(index)
      index -= 1
    }
  }

  @inlinable
  mutating func removeFirst() {
    heap.swapAt(0, heap.count - 1)
    heap.removeLast()
    if !heap.isEmpty { siftDown(0) }
  }

  @inlinable
  mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].deadline < heap[parent].deadline else { return }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  @inlinable
  mutating func siftDown(_ start: Int) {
    var parent = start
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
      if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
      if smallest == parent { return }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
  }
}
