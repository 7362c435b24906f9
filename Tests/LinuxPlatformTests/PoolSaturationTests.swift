import Glibc
import Testing

/// The probe built beside the tests (`swift build --build-tests` builds every product).
let poolProbeBinary = repositoryRoot + ".build/debug/wisp-pool-probe"

/// Issue 23, "a saturated concurrency pool": the probe runs in a process of its own, because blocking every thread
/// of Swift's global pool for 5 s here would stall every other test of this run.
@Suite("A saturated concurrency pool")
struct PoolSaturationTests {
  @Test(
    "while application tasks block every thread of the global pool for 5 s, a new client connects, upgrades and echoes within 1 s"
  )
  func serverWorksWhilePoolIsBlocked() async throws {
    try #require(
      access(poolProbeBinary, X_OK) == 0, "build the wisp-pool-probe product first (swift build --build-tests)")
    let result = await shell("timeout 60 '\(poolProbeBinary)' 5 2>&1")
    let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
    #expect((result.status >> 8) & 0xFF == 0, "\(result.output)")
    #expect(line.contains("\"ok\":true"), "\(result.output)")
    // The probe's own check that the pool was blocked throughout: its canary task ran only after the blockers.
    let canary = line.split(separator: ",").first { $0.hasPrefix("\"canary_ms\":") }
      .flatMap { Double($0.dropFirst("\"canary_ms\":".count)) }
    #expect((canary ?? 0) >= 4500, "\(result.output)")
  }
}
