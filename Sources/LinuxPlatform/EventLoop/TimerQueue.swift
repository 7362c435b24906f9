/// The loop's timers: a binary min-heap of deadlines. Loop thread only.
struct TimerQueue {
  /// Identifies a scheduled timer for cancellation.
  struct Handle: Hashable {
    let id: UInt64
  }

  private struct Entry {
    let deadline: UInt64
    let id: UInt64
    let body: () -> Void
  }

  private var heap: [Entry] = []
  /// Ids of timers that are scheduled and neither fired nor cancelled.
  private var live: Set<UInt64> = []
  private var nextID: UInt64 = 0

  mutating func schedule(deadline: UInt64, _ body: @escaping () -> Void) -> Handle {
    nextID &+= 1
    heap.append(Entry(deadline: deadline, id: nextID, body: body))
    live.insert(nextID)
    siftUp(heap.count - 1)
    return Handle(id: nextID)
  }

  /// Cancels a timer; does nothing when it already fired or was cancelled.
  mutating func cancel(_ handle: Handle) {
    live.remove(handle.id)
  }

  /// The epoll timeout until the next live timer: -1 (none), or milliseconds rounded up.
  mutating func millisecondsUntilNext(now: UInt64) -> Int32 {
    dropCancelledHead()
    guard let first = heap.first else { return -1 }
    if first.deadline <= now { return 0 }
    let milliseconds = (first.deadline - now + 999_999) / 1_000_000
    return Int32(min(milliseconds, UInt64(Int32.max)))
  }

  /// Runs every timer whose deadline has passed.
  mutating func fireDue(now: UInt64) {
    while let first = heap.first, first.deadline <= now {
      removeFirst()
      guard live.remove(first.id) != nil else { continue }
      first.body()
    }
  }

  private mutating func dropCancelledHead() {
    while let first = heap.first, !live.contains(first.id) {
      removeFirst()
    }
  }

  private mutating func removeFirst() {
    heap.swapAt(0, heap.count - 1)
    heap.removeLast()
    if !heap.isEmpty { siftDown(0) }
  }

  private mutating func siftUp(_ start: Int) {
    var child = start
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].deadline < heap[parent].deadline else { return }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(_ start: Int) {
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
