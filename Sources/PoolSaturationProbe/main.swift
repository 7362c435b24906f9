// wisp-pool-probe: shows that the embedded server keeps accepting, upgrading and echoing while application code
// blocks every thread of Swift's global cooperative pool (issue 23, "a saturated concurrency pool").
//
// It starts an echo server on 127.0.0.1, then occupies the pool's width with tasks that block their thread
// for BLOCK seconds (default 5), as a handler elsewhere doing blocking work would. Meanwhile a client on a plain
// POSIX thread (blocking socket calls, no Swift concurrency) connects, sends the upgrade request, checks the 101,
// sends a masked text frame and reads its echo. A canary task on the pool records when it finally ran, which proves
// the pool was saturated for the whole exchange. Prints one line of JSON:
//
//   {"pool_width":2,"blocked_seconds":5,"echo_ms":3.1,"canary_ms":5004.2,"ok":true}
//
// Exit status 0 when the echo arrived within 1 s while the canary waited at least BLOCK - 0.5 s; 1 otherwise.
//
// Usage: wisp-pool-probe [BLOCK_SECONDS]
import Glibc
import Synchronization
import WispCommon
import WispLinuxPlatform

let blockSeconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 5 : 5
let poolWidth = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

func nowSeconds() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// One exchange over a blocking socket: connect, upgrade, echo a masked 5-byte text frame. Returns the seconds it
/// took, or a description of what went wrong.
func exchange(port: Int) -> Result<Double, ProbeFailure> {
  let started = nowSeconds()
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return .failure(ProbeFailure("socket: errno \(errno)")) }
  defer { close(fd) }
  var timeout = timeval(tv_sec: 3, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  guard connected == 0 else { return .failure(ProbeFailure("connect: errno \(errno)")) }
  let request =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
  guard sendAll(fd, Array(request.utf8)) else { return .failure(ProbeFailure("send request: errno \(errno)")) }
  var head: [UInt8] = []
  while !head.ends(with: [13, 10, 13, 10]) {
    guard let byte = receive(fd, 1).first else { return .failure(ProbeFailure("no complete 101 response")) }
    head.append(byte)
  }
  guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
    return .failure(ProbeFailure("not a 101: \(String(decoding: head.prefix(40), as: UTF8.self))"))
  }
  let mask: [UInt8] = [1, 2, 3, 4]
  let payload = Array("hello".utf8)
  let frame = [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $1 ^ mask[$0 % 4] }
  guard sendAll(fd, frame) else { return .failure(ProbeFailure("send frame: errno \(errno)")) }
  let echoed = receive(fd, 2 + payload.count)
  guard echoed == [0x81, UInt8(payload.count)] + payload else {
    return .failure(ProbeFailure("wrong or missing echo: \(echoed)"))
  }
  return .success(nowSeconds() - started)
}

struct ProbeFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
  var offset = 0
  while offset < bytes.count {
    let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    guard sent > 0 else { return false }
    offset += sent
  }
  return true
}

/// Reads exactly `count` bytes (fewer on end of stream, error or the 3 s receive timeout).
func receive(_ fd: Int32, _ count: Int) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  var filled = 0
  while filled < count {
    let received = bytes[filled...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    guard received > 0 else { break }
    filled += received
  }
  return Array(bytes.prefix(filled))
}

extension Array where Element == UInt8 {
  func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

var application = Application()
application.install(WebSockets.self) { _ in }
application.routing { routing in
  routing.webSocket("/") { session in
    for try await frame in session.incoming { try await session.send(frame) }
  }
}
let server = EmbeddedServer(application, configuration: .init(endpoint: .host("127.0.0.1", port: 0)))
try await server.start()
let port = server.port ?? 0

// Saturate the pool: twice its width of tasks that block their thread; wait (on this plain thread, bounded) until
// a full pool's worth are running.
let blockersRunning = Atomic<Int>(0)
for _ in 0..<poolWidth {
  Task.detached {
    blockersRunning.add(1, ordering: .relaxed)
    usleep(UInt32(blockSeconds * 1_000_000))
  }
}
let waitStarted = nowSeconds()
while blockersRunning.load(ordering: .relaxed) < poolWidth && nowSeconds() - waitStarted < 2 { usleep(1000) }
let saturatedAt = nowSeconds()
let canaryRan = Atomic<Int>(0)
Task.detached { canaryRan.store(Int((nowSeconds() - saturatedAt) * 1e6), ordering: .relaxed) }

let outcome = exchange(port: port)
// Wait (bounded) for the canary, which runs once the first blockers finish.
while canaryRan.load(ordering: .relaxed) == 0 && nowSeconds() - saturatedAt < 3 * blockSeconds + 5 { usleep(10_000) }
let canaryMilliseconds = Double(canaryRan.load(ordering: .relaxed)) / 1000
let saturated = canaryMilliseconds >= (blockSeconds - 0.5) * 1000
switch outcome {
case .success(let seconds):
  let ok = seconds < 1 && saturated
  let echo = (seconds * 10_000).rounded() / 10
  print(
    "{\"pool_width\":\(poolWidth),\"blocked_seconds\":\(blockSeconds),\"echo_ms\":\(echo),"
      + "\"canary_ms\":\(canaryMilliseconds),\"ok\":\(ok)}")
  exit(ok ? 0 : 1)
case .failure(let failure):
  print(
    "{\"pool_width\":\(poolWidth),\"blocked_seconds\":\(blockSeconds),\"error\":\"\(failure)\","
      + "\"canary_ms\":\(canaryMilliseconds),\"ok\":false}")
  exit(1)
}
