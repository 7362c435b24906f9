import Synchronization
import Testing
import WispCommon

@Suite("The test host's manual clock: sleepers and callbacks in one heap")
struct ManualSessionClockTests {
  @Test("callbacks run at the advance that passes their deadline, earliest first; cancelled ones never")
  func callbacksInOrder() {
    let clock = ManualSessionClock(callbacks: true)
    let fired = Mutex<[Int]>([])
    let start = clock.now
    var identifiers: [Int: UInt64] = [:]
    for index in [3, 1, 2, 5, 4] {
      identifiers[index] = clock.scheduleCallback(at: start.advanced(by: .seconds(index))) {
        fired.withLock { $0.append(index) }
      }
    }
    #expect(clock.sleeperCount == 5)
    #expect(clock.deadlines == (1...5).map { start.advanced(by: .seconds($0)) })
    clock.cancelCallback(identifiers[4]!)
    clock.advance(by: .milliseconds(2999))
    #expect(fired.withLock { $0 } == [1, 2])
    clock.advance(by: .seconds(10))
    #expect(fired.withLock { $0 } == [1, 2, 3, 5])
    #expect(clock.sleeperCount == 0)
  }

  @Test("a callback whose deadline has passed runs at once; without callbacks: true the clock takes none")
  func pastDeadlineAndOptIn() {
    let clock = ManualSessionClock(callbacks: true)
    let ran = Mutex(false)
    _ = clock.scheduleCallback(at: clock.now) { ran.withLock { $0 = true } }
    #expect(ran.withLock { $0 })
    #expect(clock.schedulesCallbacksFromAnyThread)
    let plain = ManualSessionClock()
    #expect(plain.scheduleCallback(at: plain.now.advanced(by: .seconds(1))) {} == nil)
    #expect(!plain.schedulesCallbacksFromAnyThread)
  }

  @Test("sleeping tasks and callbacks share the heap: the waits see both, a cancelled sleep throws at once")
  func sleepersAndCallbacks() async throws {
    let clock = ManualSessionClock(callbacks: true)
    let start = clock.now
    let sleeper = Task { try await clock.sleep(until: start.advanced(by: .seconds(2))) }
    _ = clock.scheduleCallback(at: start.advanced(by: .seconds(1))) {}
    await clock.waitForSleepers(2)
    await clock.waitForSleeper(until: start.advanced(by: .seconds(2)))
    sleeper.cancel()
    await #expect(throws: CancellationError.self) { try await sleeper.value }
    #expect(clock.sleeperCount == 1)
    let woken = Task { try await clock.sleep(until: start.advanced(by: .seconds(3))) }
    await clock.waitForSleepers(2)
    clock.advance(by: .seconds(3))
    try await woken.value
    #expect(clock.sleeperCount == 0)
  }

  @Test("100,000 timers armed, each re-armed once, then all cancelled: the count follows, nothing is left")
  func manyTimers() {
    let clock = ManualSessionClock(callbacks: true)
    let start = clock.now
    let count = 100_000
    var identifiers = (0..<count).map { index in
      clock.scheduleCallback(at: start.advanced(by: .seconds(30 + index % 7))) {}!
    }
    for index in 0..<count {
      clock.cancelCallback(identifiers[index])
      identifiers[index] = clock.scheduleCallback(at: start.advanced(by: .seconds(60))) {}!
    }
    #expect(clock.sleeperCount == count)
    for identifier in identifiers { clock.cancelCallback(identifier) }
    #expect(clock.sleeperCount == 0)
    #expect(clock.deadlines.isEmpty)
  }
}
