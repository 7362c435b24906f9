// A million sessions in one process over the test host's in-memory transport (issue 34): what must scale inside one
// process (timers, tables, the handler task of each session, keepalive) without the descriptors a socket needs.
//
// Each session is a server session of an `ApplicationServer` (an echo handler: a task per session waiting in
// `for try await frame in session.incoming`, as Ktor's model has it) over a `MemoryTransport` pair, with the
// default keepalive (`--ping` seconds, 30 by default) on a `ManualSessionClock(callbacks: true)`: the sessions arm
// their timers as callbacks of the clock's heap, as they do on an event loop. The other end of each pipe is a small
// stub, not a session: it sends the upgrade request, checks `Sec-WebSocket-Accept`, answers pings with pongs and
// counts echoes, so that the process's memory is the server's plus the pipes and stubs, which `--bare` measures on
// their own (the same pipes and stubs, no server) for the subtraction.
//
// For each step (`--steps`, sessions in total) it opens sessions up to the step and prints: the resident memory per
// session (the process's growth since the start over the sessions), one keepalive round (the clock advanced one
// interval: every session sends a ping, the stub answers, the session re-arms its timer; wall time, CPU time per
// session), a fresh session's echo round trip (p50/p99 over 1,000 echoes on one session), and at the end the time to
// close every session with 1001 (`closeAllSessions`).
//
// Usage: wisp-million [--steps 100000,250000,500000,1000000] [--ping 30] [--bare] [--hold SECONDS]
import Glibc
import Synchronization
import Wisp

let arguments = CommandLine.arguments
func option(_ flag: String) -> String? {
  guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
  return arguments[index + 1]
}
let steps = (option("--steps") ?? "100000,250000,500000,1000000").split(separator: ",").compactMap { Int($0) }
let pingSeconds = Int(option("--ping") ?? "30") ?? 30
let bare = arguments.contains("--bare")
/// Seconds to pause before the first session and after each step's sessions are open (for a heap dump).
let hold = Int(option("--hold") ?? "0") ?? 0
/// Sessions opened at once while a step fills.
let openConcurrency = 512

// MARK: Measuring

func residentBytes() -> Int {
  let descriptor = open("/proc/self/statm", O_RDONLY)
  guard descriptor >= 0 else { return 0 }
  defer { close(descriptor) }
  var buffer = [UInt8](repeating: 0, count: 128)
  let count = read(descriptor, &buffer, buffer.count)
  guard count > 0 else { return 0 }
  let fields = String(decoding: buffer[..<count], as: UTF8.self).split(separator: " ")
  guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
  return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func cpuSeconds() -> Double {
  var usage = rusage()
  getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
  return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
    + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String {
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let scaled = Int((value * scale).rounded())
  let fraction = String(scaled % Int(scale))
  return "\(scaled / Int(scale)).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

/// Waits (bounded by `limit`) until `condition` holds, polling every 5 ms; returns whether it did.
func wait(upTo limit: Duration, _ condition: () -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + limit
  while !condition() {
    if ContinuousClock.now >= deadline { return false }
    try? await Task.sleep(for: .milliseconds(5))
  }
  return true
}

/// Waits (bounded) until the process has used less than 2 ms of CPU in 100 ms: the work of a round has ended.
func waitUntilQuiet(upTo limit: Duration) async {
  let deadline = ContinuousClock.now + limit
  var last = cpuSeconds()
  while ContinuousClock.now < deadline {
    try? await Task.sleep(for: .milliseconds(100))
    let now = cpuSeconds()
    if now - last < 0.002 { return }
    last = now
  }
}

// MARK: The stub at the other end of each pipe

/// Counters over every stub.
let pongsSent = Atomic<Int>(0)
let echoesReceived = Atomic<Int>(0)
let closesReceived = Atomic<Int>(0)
let endsSeen = Atomic<Int>(0)

/// The other end of one session's pipe: upgrade, pongs, echoes, the close reply. Its state is what it has read of a
/// frame not yet whole and the bytes it has to write (both empty while idle).
final class Stub: Sendable {
  private struct State {
    var input: [UInt8] = []
    var output: [UInt8] = []
    var echoWaiter: UnsafeContinuation<Void, Never>?
  }
  let transport: MemoryTransport
  private let state = Mutex(State())

  init(transport: MemoryTransport) { self.transport = transport }

  static let request = Array(
    ("GET /echo HTTP/1.1\r\nHost: memory\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)
  /// RFC 6455 section 1.3's example key and its accept value.
  static let accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

  /// Sends the upgrade, reads the answer (101 with the right accept value), then takes frames as they are pushed.
  func open() async throws {
    try await transport.write(Self.request)
    var head: [UInt8] = []
    let end: [UInt8] = [13, 10, 13, 10]
    while true {
      let count = try await transport.read { bytes in
        head.append(contentsOf: bytes)
        return bytes.count
      }
      if count == 0 { throw StubError.closed }
      if let range = head.firstRange(of: end) {
        let text = String(decoding: head[..<range.lowerBound], as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 101"), text.contains(Self.accept) else { throw StubError.refused(text) }
        state.withLock { $0.input = Array(head[range.upperBound...]) }
        break
      }
      if head.count > 4096 { throw StubError.refused("no end of head in 4 KiB") }
    }
    listen()
  }

  /// Installs the push handlers (no upgrade: the `--bare` measure).
  func listen() {
    transport.setWriteSource { [self] in
      state.withLock { state -> [UInt8]? in
        if state.output.isEmpty { return nil }
        defer { state.output = [] }
        return state.output
      }
    }
    transport.startReading(
      { [self] event in
        switch event {
        case .bytes(let bytes):
          consume(bytes)
          return true
        case .endOfStream, .failed:
          endsSeen.add(1, ordering: .relaxed)
          return false
        }
      }, directReader: nil)
  }

  /// Sends a masked text frame and waits for its echo.
  func echo(_ text: String) async throws {
    let frame: [UInt8] = [0x81, 0x80 | UInt8(text.utf8.count), 0, 0, 0, 0] + Array(text.utf8)
    let transport = transport
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      state.withLock { $0.echoWaiter = continuation }
      Task { try? await transport.write(frame) }
    }
  }

  private func consume(_ bytes: UnsafeRawBufferPointer) {
    let (write, waiter) = state.withLock { state -> (Bool, UnsafeContinuation<Void, Never>?) in
      state.input.append(contentsOf: bytes)
      var offset = 0
      var write = false
      var waiter: UnsafeContinuation<Void, Never>?
      while state.input.count - offset >= 2 {
        let opcode = state.input[offset] & 0x0F
        var length = Int(state.input[offset + 1] & 0x7F)
        var headerLength = 2
        if length == 126 {
          guard state.input.count - offset >= 4 else { break }
          length = Int(state.input[offset + 2]) << 8 | Int(state.input[offset + 3])
          headerLength = 4
        } else if length == 127 {
          guard state.input.count - offset >= 10 else { break }
          length = (0..<8).reduce(0) { $0 << 8 | Int(state.input[offset + 2 + $1]) }
          headerLength = 10
        }
        guard state.input.count - offset >= headerLength + length else { break }
        let payload = state.input[(offset + headerLength)..<(offset + headerLength + length)]
        switch opcode {
        case 0x9:  // ping: a pong with the same payload, masked with a zero key
          state.output.append(contentsOf: [0x8A, 0x80 | UInt8(length), 0, 0, 0, 0])
          state.output.append(contentsOf: payload)
          pongsSent.add(1, ordering: .relaxed)
          write = true
        case 0x8:  // close: the reply echoes the code
          state.output.append(contentsOf: [0x88, 0x80 | UInt8(min(length, 2)), 0, 0, 0, 0])
          state.output.append(contentsOf: payload.prefix(2))
          closesReceived.add(1, ordering: .relaxed)
          write = true
        default:
          echoesReceived.add(1, ordering: .relaxed)
          waiter = state.echoWaiter
          state.echoWaiter = nil
        }
        offset += headerLength + length
      }
      state.input = offset == state.input.count ? [] : Array(state.input[offset...])
      return (write, waiter)
    }
    if write { transport.requestWrite() }
    waiter?.resume()
  }
}

enum StubError: Error {
  case closed
  case refused(String)
}

// MARK: The server

let clock = ManualSessionClock(callbacks: true)
var application = Application()
application.install(WebSockets.self) { config in
  config.pingPeriod = .seconds(pingSeconds)
  config.sessionClock = clock
}
application.routing { routing in
  routing.webSocket("/echo") { session in
    for try await frame in session.incoming { try await session.send(frame) }
  }
}
let server = ApplicationServer(application: application)

/// Opens one session: a pipe, the server's handshake in a task that ends after it, the session in a task of its
/// own (as `EmbeddedServer` runs them), and the stub.
func openSession() async throws -> Stub {
  let (client, serverEnd) = MemoryTransport.pair()
  let stub = Stub(transport: client)
  if bare {
    stub.listen()
    return stub
  }
  Task {
    guard let session = await server.handshake(serverEnd) else { return }
    Task { await server.run(session) }
  }
  try await stub.open()
  return stub
}

// MARK: The run

print(
  bare
    ? "pipes and stubs only (--bare): the test side of each session, no server"
    : "in-memory sessions, echo handler, keepalive every \(pingSeconds) s on a manual clock with callbacks")
print("| sessions | RSS / session | keepalive round: wall | round CPU / session | echo p50 / p99 | open rate |")
print("| ---: | ---: | ---: | ---: | ---: | ---: |")
if hold > 0 { try await Task.sleep(for: .seconds(hold)) }
let baseline = residentBytes()
var stubs: [Stub] = []
stubs.reserveCapacity(steps.max() ?? 0)
var failures = 0
for step in steps {
  let openStart = ContinuousClock.now
  while stubs.count < step {
    let batch = min(openConcurrency, step - stubs.count)
    let opened = await withTaskGroup(of: Stub?.self) { group in
      for _ in 0..<batch { group.addTask { try? await openSession() } }
      var opened: [Stub] = []
      for await stub in group {
        if let stub { opened.append(stub) }
      }
      return opened
    }
    failures += batch - opened.count
    stubs.append(contentsOf: opened)
    if failures > 100 {
      print("stopped: \(failures) sessions failed to open")
      exit(1)
    }
  }
  let openRate = Double(step) / seconds(ContinuousClock.now - openStart)
  await waitUntilQuiet(upTo: .seconds(30))
  if hold > 0 { try await Task.sleep(for: .seconds(hold)) }
  let perSession = Double(residentBytes() - baseline) / Double(stubs.count)
  guard !bare else {
    print("| \(stubs.count) | \(Int(perSession)) B | - | - | - | \(Int(openRate))/s |")
    continue
  }
  guard server.openSessionCount == stubs.count else {
    print("stopped: \(server.openSessionCount) sessions open, \(stubs.count) expected")
    exit(1)
  }
  // One keepalive round: every session's timer fires, its ping goes out, the stub's pong comes back.
  let pongsBefore = pongsSent.load(ordering: .relaxed)
  let cpuBefore = cpuSeconds()
  let roundStart = ContinuousClock.now
  clock.advance(by: .seconds(pingSeconds))
  let answered = await wait(upTo: .seconds(300)) {
    pongsSent.load(ordering: .relaxed) - pongsBefore >= stubs.count
  }
  await waitUntilQuiet(upTo: .seconds(60))
  let roundWall = ContinuousClock.now - roundStart
  let roundCPU = cpuSeconds() - cpuBefore
  guard answered, server.openSessionCount == stubs.count else {
    print(
      "stopped: \(pongsSent.load(ordering: .relaxed) - pongsBefore) pongs of \(stubs.count), "
        + "\(server.openSessionCount) sessions open")
    exit(1)
  }
  // A fresh session's echo while the others idle.
  let fresh = try await openSession()
  var samples: [Duration] = []
  for index in 0..<1000 {
    let start = ContinuousClock.now
    try await fresh.echo("echo \(index)")
    samples.append(ContinuousClock.now - start)
  }
  samples.sort()
  stubs.append(fresh)
  let p50 = seconds(samples[samples.count / 2]) * 1e6
  let p99 = seconds(samples[samples.count * 99 / 100]) * 1e6
  let wall = "\(Int(seconds(roundWall) * 1000)) ms"
  let cpu = "\(fixed(roundCPU / Double(stubs.count) * 1e6, 2)) us"
  let echo = "\(fixed(p50, 1)) / \(fixed(p99, 1)) us"
  print("| \(stubs.count - 1) | \(Int(perSession)) B | \(wall) | \(cpu) | \(echo) | \(Int(openRate))/s |")
}
if !bare {
  let closeStart = ContinuousClock.now
  await server.closeAllSessions(gracePeriod: .seconds(60))
  let closed = await wait(upTo: .seconds(120)) { server.openSessionCount == 0 }
  print(
    "closed \(closesReceived.load(ordering: .relaxed)) sessions with 1001 in "
      + "\(Int(seconds(ContinuousClock.now - closeStart) * 1000)) ms\(closed ? "" : " (some still open)")")
}
