import Glibc
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 34: several `ws serve --reuse-port` processes share one port (SO_REUSEPORT), and one of them is replaced
/// without refusing a client.
@Suite("SO_REUSEPORT: processes sharing a port, one replaced without a refusal", .serialized)
struct ReusePortTests {
  /// What the clients saw: upgrades that succeeded, attempts that failed (with why).
  final class Tally: Sendable {
    private let state = Mutex<(upgraded: Int, failures: [String])>((0, []))
    private let stopped = Atomic<Bool>(false)
    func stop() { stopped.store(true, ordering: .relaxed) }
    var isStopped: Bool { stopped.load(ordering: .relaxed) }
    func upgraded() { state.withLock { $0.upgraded += 1 } }
    func failed(_ why: String) { state.withLock { $0.failures.append(why) } }
    var upgradedCount: Int { state.withLock { $0.upgraded } }
    var failures: [String] { state.withLock { $0.failures } }
  }

  /// `net.ipv4.tcp_migrate_req` (Linux 5.14): 1 moves what a closing listener's queue holds (handshakes in
  /// progress included) to the other listeners of its `SO_REUSEPORT` group. Returns the old value, or `nil` when it
  /// cannot be read or written here.
  static func setMigrateRequests(_ value: Int) -> Int? {
    let path = "/proc/sys/net/ipv4/tcp_migrate_req"
    guard let file = fopen(path, "r") else { return nil }
    var buffer = [CChar](repeating: 0, count: 8)
    fgets(&buffer, 8, file)
    fclose(file)
    let old = Int(String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    guard let old, let writer = fopen(path, "w") else { return nil }
    fputs("\(value)\n", writer)
    return fclose(writer) == 0 ? old : nil
  }

  @Test("two ws serve --reuse-port on one port; SIGTERM to the first while clients connect: none is refused")
  func replaceWithoutRefusal() async throws {
    try #require(WsCommandTests.available)
    // The server serves what its listener's queue holds and lets handshakes in progress finish; a connection whose
    // TCP handshake is in flight at the listener's close is the kernel's to move (tcp_migrate_req), set here when
    // this machine lets the test set it, and restored after.
    let previous = Self.setMigrateRequests(1)
    defer { if let previous { _ = Self.setMigrateRequests(previous) } }
    let (port, first) = try await startServerProcess([
      wsBinary, "serve", "--echo", "--reuse-port", "--port", "0", "--port-file", portFilePlaceholder, "-q",
    ])
    defer { terminate(first) }
    let (samePort, second) = try await startServerProcess([
      wsBinary, "serve", "--echo", "--reuse-port", "--port", "\(port)", "--port-file", portFilePlaceholder, "-q",
    ])
    defer { terminate(second) }
    #expect(samePort == port, "the second process binds the first one's port")

    let client = HttpClient(LinuxEngine(group: testGroup)) {
      $0.install(WebSockets.self) { $0.handshakeTimeout = .seconds(5) }
    }
    let tally = Tally()
    // 32 clients connect one session after another, each sending one message: an echo or the server's 1001
    // (the old server going away) both mean the attempt was served.
    let clients = (0..<32).map { _ in
      Task {
        var attempts = 0
        while !tally.isStopped, attempts < 5000 {
          attempts += 1
          do {
            try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
              tally.upgraded()
              do {
                try await session.send("hello")
                _ = try await session.incoming.receive()
              } catch {
                let reason = await session.closeReason
                if reason.code != .goingAway { tally.failed("after the upgrade: \(error), \(reason)") }
              }
            }
          } catch {
            tally.failed("\(error)")
          }
        }
      }
    }
    // Time-independent: a busy machine (the whole suite in parallel) is slower, not wrong.
    _ = await waitUntil(.seconds(20)) { tally.upgradedCount >= 100 }
    let beforeStop = tally.upgradedCount
    kill(first, SIGTERM)
    let exited = await runBlocking { () -> Bool in
      for _ in 0..<400 {
        var status: Int32 = 0
        if waitpid(first, &status, WNOHANG) == first { return true }
        usleep(25_000)
      }
      return false
    }
    let atStop = tally.upgradedCount
    _ = await waitUntil(.seconds(20)) { tally.upgradedCount >= atStop + 100 }
    tally.stop()
    for task in clients { await task.value }
    #expect(exited, "the first server exits within 10 s of SIGTERM")
    #expect(beforeStop >= 100, "clients were served before the stop (\(beforeStop))")
    #expect(tally.upgradedCount >= atStop + 100, "the second server serves alone after the first left")
    if previous != nil {
      #expect(tally.failures.isEmpty, "refused or cut: \(tally.failures.prefix(5))")
    } else {
      // Without tcp_migrate_req the kernel resets a TCP handshake caught in flight by the close: never a refusal
      // by the server (no 503, no ECONNREFUSED), at most a reset or two.
      let others = tally.failures.filter { !$0.contains("reset") }
      #expect(others.isEmpty && tally.failures.count <= 2, "refused or cut: \(tally.failures.prefix(5))")
    }
  }

  @Test("without --reuse-port a second server on the same port fails to bind, with the reason")
  func withoutReusePort() async throws {
    try #require(WsCommandTests.available)
    let (port, first) = try await startServerProcess([
      wsBinary, "serve", "--echo", "--port", "0", "--port-file", portFilePlaceholder, "-q",
    ])
    defer { terminate(first) }
    let result = await shell("\(wsBinary) serve --echo --port \(port) -q 2>&1; echo status=$?")
    #expect(result.output.contains("status=") && !result.output.contains("status=0"), "\(result.output)")
    #expect(result.output.lowercased().contains("address already in use"), "\(result.output)")
  }
}
