import Testing
import WispCommon

@Suite("The timer heap (event loops, the manual clock)")
struct TimerQueueTests {
  final class Captured {
    nonisolated(unsafe) static var alive = 0
    init() { Self.alive += 1 }
    deinit { Self.alive -= 1 }
  }

  @Test("a cancelled timer releases what its body captured at once, and the heap stays within twice the live timers")
  func cancellationReleases() {
    var queue = TimerQueue()
    var handles: [TimerHandle] = []
    let aliveBefore = Captured.alive
    for index in 0..<20_000 {
      let captured = Captured()
      handles.append(queue.schedule(deadline: UInt64(10_000_000_000 + index)) { _ = captured })
    }
    #expect(Captured.alive - aliveBefore == 20_000)
    for handle in handles.dropLast(10) { queue.cancel(handle) }
    #expect(Captured.alive - aliveBefore == 10)
    #expect(queue.liveCount == 10)
    #expect(queue.entryCount <= 2 * 10 + 64)
    while let body = queue.popDue(now: UInt64.max) { body() }
    #expect(Captured.alive - aliveBefore == 0)
    #expect(queue.entryCount == 0)
  }

  @Test("random schedules and cancellations fire exactly the live timers, in deadline order")
  func matchesModel() {
    var generator = SystemRandomNumberGenerator()
    var queue = TimerQueue()
    var model: [UInt64: UInt64] = [:]  // id -> deadline of live timers
    var handles: [TimerHandle] = []
    final class Log { var fired: [(id: UInt64, deadline: UInt64)] = [] }
    let log = Log()
    for _ in 0..<5_000 {
      if Bool.random(using: &generator) || handles.isEmpty {
        let deadline = UInt64.random(in: 0..<1_000, using: &generator)
        var handle: TimerHandle!
        handle = queue.schedule(deadline: deadline) { [log] in log.fired.append((handle.id, deadline)) }
        handles.append(handle)
        model[handle.id] = deadline
      } else {
        let handle = handles.remove(at: Int.random(in: 0..<handles.count, using: &generator))
        queue.cancel(handle)
        model[handle.id] = nil
      }
    }
    while let body = queue.popDue(now: 1_000) { body() }
    #expect(Set(log.fired.map(\.id)) == Set(model.keys))
    #expect(log.fired.count == model.count)
    #expect(zip(log.fired, log.fired.dropFirst()).allSatisfy { $0.deadline <= $1.deadline })
  }

  @Test("a stale handle (fired or cancelled) never cancels the timer that reuses its slot; identifiers grow")
  func staleHandles() {
    var queue = TimerQueue()
    final class Count { var fired = 0 }
    let count = Count()
    var previous: UInt64 = 0
    var stale: [TimerHandle] = []
    for round in 0..<1_000 {
      let handle = queue.schedule(deadline: UInt64(round)) { [count] in count.fired += 1 }
      #expect(handle.id > previous)
      previous = handle.id
      // Every stale handle so far points at the slot this timer took (one slot, reused each round).
      for old in stale { #expect(queue.cancel(old) == nil) }
      #expect(queue.liveCount == 1)
      if round.isMultiple(of: 2) {
        #expect(queue.cancel(handle) != nil)
        #expect(queue.cancel(handle) == nil)
      } else {
        let body = queue.popDue(now: UInt64(round))
        #expect(body != nil)
        body?()
      }
      #expect(queue.liveCount == 0)
      stale.append(handle)
      if stale.count > 8 { stale.removeFirst() }
    }
    #expect(count.fired == 500)
    #expect(queue.popDue(now: .max) == nil)
  }

  @Test("a round fires only the timers scheduled before it: a body that arms a passed deadline waits for the next")
  func roundCutoff() {
    final class Box {
      var queue = TimerQueue()
      var fired = 0
    }
    let box = Box()
    func rearm() {
      _ = box.queue.schedule(deadline: 5) {
        box.fired += 1
        rearm()
      }
    }
    rearm()
    for round in 1...3 {
      let cutoff = box.queue.lastScheduledID
      while let body = box.queue.popDue(now: 10, scheduledUpTo: cutoff) { body() }
      #expect(box.fired == round)
      #expect(box.queue.liveCount == 1)
    }
  }

  @Test("long delays get 0.1 % slack: never early, late by at most a thousandth, and nearby deadlines coincide")
  func slack() {
    // Short delays are exact: a handshake's or a test's timeout is not moved.
    #expect(TimerQueue.deadline(now: 1_234_567, delay: 999_000_000) == 1_234_567 + 999_000_000)
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<10_000 {
      let now = UInt64.random(in: 0...(1 << 50), using: &generator)
      let delay = UInt64.random(in: (1 << 30)...(3_600 * 1_000_000_000), using: &generator)
      let deadline = TimerQueue.deadline(now: now, delay: delay)
      #expect(deadline > now + delay - 1)
      #expect(deadline - (now + delay) <= delay / 1_000)
      #expect(deadline - (now + delay) <= 1 << 25)
    }
    // A 30 s keepalive: deadlines 5 ms apart share one instant (a grid of 2^24 ns, 16.8 ms).
    let base: UInt64 = 7 << 24
    let first = TimerQueue.deadline(now: base + 1_000_000, delay: 30_000_000_000)
    let second = TimerQueue.deadline(now: base + 6_000_000, delay: 30_000_000_000)
    #expect(first == second)
    #expect(first.isMultiple(of: 1 << 24))
    // A leeway widens the slack (a keepalive ping: a sixteenth of its interval, at most 2^31 ns), never early.
    for _ in 0..<10_000 {
      let now = UInt64.random(in: 0...(1 << 50), using: &generator)
      let delay = UInt64.random(in: 0...(120 * 1_000_000_000), using: &generator)
      let leeway = UInt64.random(in: 0...(1 << 33), using: &generator)
      let late = TimerQueue.deadline(now: now, delay: delay, leeway: leeway) - (now + delay)
      #expect(late <= max(min(leeway, 1 << 31), delay >= 1 << 30 ? min(delay / 1_024, 1 << 25) : 0))
    }
    // Pings of 100 sessions due 9 ms apart (within one step of the 2^30 ns grid) go out together.
    let cellStart: UInt64 = (100 << 30) - 30_000_000_000 + 1
    let pings = (0..<100).map {
      TimerQueue.deadline(now: cellStart + UInt64($0) * 9_000_000, delay: 30_000_000_000, leeway: 1_875_000_000)
    }
    #expect(Set(pings).count == 1)
    // No overflow near the end of the clock.
    #expect(TimerQueue.deadline(now: .max - (1 << 31), delay: 1 << 31) == .max)
  }
}
