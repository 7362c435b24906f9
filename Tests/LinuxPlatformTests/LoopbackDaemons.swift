import Glibc
import Synchronization
import WispCommon
import WispLinuxPlatform

/// Loopback ports for the daemons the tests start (tinyproxy, microsocks, Redis, nghttpx), and their start.
///
/// A port found free by binding port 0 comes from the kernel's ephemeral range (32768-60999 here), the range every
/// outgoing connection of the suite takes its local port from: between the test releasing it and the daemon binding
/// it, another test's connection could take it, the daemon then failed to bind and exited, and the test waited its
/// full 15 s for a listener that would never come (seen in CI: "starting a server on 35267 timed out"). So ports are
/// chosen below the ephemeral range, never handed out twice in one run, and a daemon that exits before it listens is
/// started again on another port.
enum LoopbackDaemons {
  /// Ports below the kernel's default ephemeral range (`net.ipv4.ip_local_port_range` starts at 32768), where no
  /// outgoing connection takes its local port.
  static let portRange = 20_000..<32_000

  /// Every port handed out in this run: two daemons never race for one port.
  private static let handedOut = Mutex<Set<Int>>([])

  /// How long a daemon may take to listen. 15 s: they start while the rest of the suite runs on two cores (Redis
  /// nodes with their append-only files too), and 5 s was missed once so.
  static let startLimit: Duration = .seconds(15)

  /// A loopback port nothing listens on or is bound to, not handed out before in this run.
  static func freePort() async throws -> Int {
    for _ in 0..<200 {
      let port = Int.random(in: portRange)
      let fresh = handedOut.withLock { $0.insert(port).inserted }
      guard fresh else { continue }
      // Bound and released at once: proves nothing holds it now.
      guard let listener = try? await SocketListener.bind(.host("127.0.0.1", port: port), on: testGroup.loops[0])
      else { continue }
      await listener.close()
      return port
    }
    throw DaemonStartFailure(description: "no free loopback port in \(portRange) after 200 tries")
  }

  /// Whether `process` has exited (and is reaped). The processes are started with `exec`, so the pid is the daemon's.
  static func hasExited(_ process: pid_t) -> Bool {
    var status: Int32 = 0
    return waitpid(process, &status, WNOHANG) == process
  }

  /// How a started daemon turned out.
  enum Outcome {
    /// It accepts connections on its port (and passed the readiness check, if any).
    case serving
    /// It exited first: its port (or a second port of its own, such as a Redis Cluster bus port) was taken.
    case exited
  }

  /// Waits (at most ``startLimit``) until `process` accepts connections on `port` and `ready(port)` holds, or until
  /// it exits; a daemon that does neither is killed and the wait throws.
  static func waitUntilServing(
    _ name: String, port: Int, process: pid_t, ready: ((Int) async -> Bool)? = nil
  ) async throws -> Outcome {
    var listening = false
    var exited = false
    // Polled: the process gives no other sign that it listens or is ready.
    let decided = await waitUntil(startLimit) {
      if !listening,
        let socket = try? await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[0])
      {
        await socket.close()
        listening = true
      }
      if listening, await ready?(port) ?? true { return true }
      // A daemon may listen and then exit (Redis binds its cluster bus port after its client port).
      exited = hasExited(process)
      return exited
    }
    if decided { return exited ? .exited : .serving }
    terminate(process)
    let stage = listening ? "answering" : "listening"
    throw TransportError.timedOut(operation: "\(name) on \(port) \(stage)", limit: startLimit)
  }

  /// Starts a daemon on a port of its own: `launch` spawns it on the port it is given; returns once it accepts
  /// connections and `ready` holds. A daemon that exits before (a port of its taken meanwhile by something outside
  /// this run) is started again on another port, three times at most; one that is not ready and does not exit
  /// within ``startLimit`` is killed and the start throws.
  static func start(
    _ name: String, ready: ((Int) async -> Bool)? = nil, launch: (Int) async throws -> pid_t
  ) async throws -> (port: Int, pid: pid_t) {
    for _ in 0..<3 {
      let port = try await freePort()
      let pid = try await launch(port)
      if try await waitUntilServing(name, port: port, process: pid, ready: ready) == .serving { return (port, pid) }
    }
    throw DaemonStartFailure(description: "\(name) exited before it was ready, three times (on three ports)")
  }

  /// Starts a daemon again on the port it had (its clients know it): returns once it is ready; throws if it exits.
  static func restart(
    _ name: String, port: Int, ready: ((Int) async -> Bool)? = nil, launch: (Int) async throws -> pid_t
  ) async throws -> pid_t {
    let pid = try await launch(port)
    guard try await waitUntilServing(name, port: port, process: pid, ready: ready) == .serving else {
      throw DaemonStartFailure(description: "\(name) exited before it was ready on \(port)")
    }
    return pid
  }
}

/// Why a test's daemon did not start.
struct DaemonStartFailure: Error, CustomStringConvertible {
  /// What happened, for the test's failure message.
  let description: String
}
