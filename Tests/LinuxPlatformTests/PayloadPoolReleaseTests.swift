import Testing
import WispCommon

@testable import WispLinuxPlatform

@Suite("The event loop's payload pool")
struct PayloadPoolReleaseTests {
  @Test("the loop releases the pool's unused buffers on its timer, and arms no timer while the pool is empty")
  func unusedBuffersAreReleased() async throws {
    let loop = try EventLoop()
    defer { loop.shutdown() }
    let held = [UInt8](repeating: 1, count: 100)
    let armedWhenEmpty = await Task(executorPreference: loop) { () -> Bool in
      loop.payloadReleaseInterval = .milliseconds(50)
      return loop.payloadReleaseTimer != nil
    }.value
    #expect(!armedWhenEmpty)
    // Offered and counted in one job on the loop: the timer cannot fire in between.
    let kept = await Task(executorPreference: loop) { () -> Int in
      loop.payloadPool.offer(held)
      return loop.payloadPool.count
    }.value
    #expect(kept == 1)
    // Nothing is taken from the pool, so the first release after 50 ms lets the buffer go, and the loop then has no
    // timer for it.
    let released = await waitUntil(.seconds(10)) {
      await Task(executorPreference: loop) { loop.payloadPool.count == 0 && loop.payloadReleaseTimer == nil }.value
    }
    #expect(released)
    #expect(held == [UInt8](repeating: 1, count: 100), "the application's reference is untouched")
  }
}
