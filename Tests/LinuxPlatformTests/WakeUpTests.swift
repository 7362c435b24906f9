import Testing
import WispCommon
import WispLinuxPlatform

@Suite("Wake-ups of tasks off the event loop")
struct WakeUpTests {
  /// The shape of `ws connect`: a task on the global pool iterates `incoming` while another sends a line and
  /// closes, so the echo, the server's close and the end of the stream arrive while the reader starts each wait.
  /// A `receive()` that checked its queue, was moved to the loop's executor on the way into its wait, and stored its
  /// continuation after the close had been handled waited forever (24 hangs in 400 runs of `ws connect` before
  /// the fix; with the re-check removed this test hangs 3 runs in 3, and the suite's time bound fails it). Every
  /// session here must end on its own, well before the watchdog that would terminate it.
  @Test("300 sessions read from tasks that do not prefer the loop: every echo and every end of stream arrives")
  func readersOffTheLoopAreWoken() async throws {
    let terminated = Recorder<Int>()
    try await withServer(seedEchoApplication()) { _, port in
      for _ in 0..<10 {
        try await withThrowingTaskGroup(of: Void.self) { group in
          for index in 0..<30 {
            group.addTask {
              let session = try await client.webSocketSession("ws://127.0.0.1:\(port)/")
              let watchdog = Task {
                try await Task.sleep(for: .seconds(20))
                terminated.add(index)
                await session.connection.terminate()
              }
              defer { watchdog.cancel() }
              let sender = Task {
                try await session.send("line \(index)")
                try await session.close()
              }
              var texts: [String] = []
              for try await frame in session.incoming { texts.append(try frame.readText()) }
              try await sender.value
              #expect(texts == ["YOU SAID: line \(index)"])
              #expect(await session.closeReason.code == .normal)
            }
          }
          try await group.waitForAll()
        }
      }
    }
    #expect(terminated.all.isEmpty, "sessions terminated by the watchdog: \(terminated.all)")
  }
}
