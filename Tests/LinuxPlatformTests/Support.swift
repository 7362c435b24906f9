import CWispSystem
import Glibc
import Logging
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// One group for all platform tests: two loops, as on the 2-core CI machine.
let testGroup: EventLoopGroup = {
  do { return try EventLoopGroup(loopCount: 2) } catch { fatalError("\(error)") }
}()

/// An echo server on a listener: every connection echoes what it reads until EOF, then closes.
func startEchoServer(_ listener: SocketListener) -> Task<Void, Never> {
  Task {
    while true {
      guard let connection = try? await listener.accept() else { return }
      Task(executorPreference: connection.loop) {
        await echo(connection)
      }
    }
  }
}

/// Echoes until EOF or an error, then closes.
func echo(_ connection: some Transport) async {
  do {
    while true {
      let bytes = try await connection.read { Array($0) }
      if bytes.isEmpty { break }
      try await connection.write(bytes)
    }
  } catch {}
  await connection.close()
}

/// Sends `payload`, half-closes, reads until EOF; returns what came back. Reading and writing run concurrently so
/// that large payloads do not deadlock on full socket buffers.
func roundTrip(_ connection: SocketTransport, _ payload: [UInt8]) async throws -> [UInt8] {
  try await roundTrip(connection, on: connection.loop, payload)
}

/// `roundTrip` over any transport served by `loop`.
func roundTrip(_ connection: some Transport, on loop: EventLoop, _ payload: [UInt8]) async throws -> [UInt8] {
  try await withTaskExecutorPreference(loop) {
    async let writing: Void = {
      var offset = 0
      while offset < payload.count {
        let end = min(payload.count, offset + 256 * 1024)
        try await connection.write(Array(payload[offset..<end]))
        offset = end
      }
      try await connection.shutdownOutput()
    }()
    let received = try await readToEnd(connection)
    try await writing
    await connection.close()
    return received
  }
}

/// Tests that open about a thousand descriptors, or count the process's descriptors, take turns: suites run in
/// parallel, and a count taken while another test holds a thousand sockets means nothing.
actor DescriptorHeavyTests {
  static let shared = DescriptorHeavyTests()
  private var busy = false
  private var waiters: [CheckedContinuation<Void, Never>] = []

  /// Runs `body` while no other descriptor-heavy test runs.
  nonisolated func exclusively<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
    await acquire()
    do {
      let result = try await body()
      await release()
      return result
    } catch {
      await release()
      throw error
    }
  }

  private func acquire() async {
    if !busy {
      busy = true
      return
    }
    await withCheckedContinuation { waiters.append($0) }
  }

  private func release() {
    if waiters.isEmpty {
      busy = false
    } else {
      waiters.removeFirst().resume()
    }
  }
}

/// The number of open file descriptors of this process.
func openDescriptorCount() -> Int {
  guard let directory = opendir("/proc/self/fd") else { return -1 }
  defer { closedir(directory) }
  var count = 0
  while readdir(directory) != nil { count += 1 }
  return count - 3  // ".", ".." and the directory's own descriptor
}

/// This process's TCP sockets (IPv4 and IPv6) whose local or remote port is `port`: the descriptors one test's
/// listener and connections hold, unlike ``openDescriptorCount()``, which also counts what tests running in
/// parallel open and close meanwhile (sockets from `/proc/self/fd`, their ports from `/proc/net/tcp` and `tcp6`).
func openSocketCount(port: Int) -> Int {
  var inodes = Set<Substring>()
  if let directory = opendir("/proc/self/fd") {
    defer { closedir(directory) }
    var target = [CChar](repeating: 0, count: 64)
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      let length = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
      guard length > 0 else { continue }
      let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      if link.hasPrefix("socket:[") { inodes.insert(Substring(link.dropFirst(8).dropLast())) }
    }
  }
  let hexPort = String(port, radix: 16, uppercase: true)
  let suffix = ":" + String(repeating: "0", count: max(0, 4 - hexPort.count)) + hexPort
  var count = 0
  for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
    guard let file = fopen(table, "r") else { continue }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0, let line {
      let fields = String(cString: line).split(separator: " ")
      guard fields.count > 9, inodes.contains(fields[9]) else { continue }
      if fields[1].hasSuffix(suffix) || fields[2].hasSuffix(suffix) { count += 1 }
    }
  }
  return count
}

/// Deterministic test bytes.
func pattern(_ count: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
}

/// Runs a blocking call (a child process) on its own thread, so no Swift executor thread waits on it.
func runBlocking<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
  await runOnDedicatedThread(body)
}

/// Runs a shell command and returns its standard output and exit status.
func shell(_ command: String) async -> (output: String, status: Int32) {
  await runBlocking {
    guard let pipe = popen(command, "r") else { return ("", -1) }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = fread(&buffer, 1, buffer.count, pipe)
      if count == 0 { break }
      output.append(contentsOf: buffer[0..<count])
    }
    let status = pclose(pipe)
    return (String(decoding: output, as: UTF8.self), status)
  }
}

/// Connects the blocking socket `fd` to 127.0.0.1:`port` with the system's own `connect` (for tests that need a
/// peer outside the library); whether it connected.
func connectLoopbackIPv4(_ fd: Int32, port: Int) -> Bool {
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  return connected == 0
}

/// Starts a background process with its output discarded (so it never holds the test's output open); returns its
/// pid.
func spawn(_ arguments: [String]) -> pid_t {
  var pid: pid_t = 0
  let command = "exec " + arguments.map { "'\($0)'" }.joined(separator: " ") + " >/dev/null 2>&1 </dev/null"
  let shellArguments: [String] = ["/bin/sh", "-c", command]
  var cArguments: [UnsafeMutablePointer<CChar>?] = shellArguments.map { strdup($0) } + [nil]
  defer { for argument in cArguments { free(argument) } }
  let result = posix_spawn(&pid, "/bin/sh", nil, nil, &cArguments, environ)
  precondition(result == 0, "cannot start \(arguments[0]): \(result)")
  return pid
}

/// Stops a background process and reaps it (SIGKILL: openssl s_server ignores SIGTERM).
func terminate(_ pid: pid_t) {
  kill(pid, SIGKILL)
  var status: Int32 = 0
  waitpid(pid, &status, 0)
}

/// Reads until EOF; call on the transport's loop.
func readToEnd(_ connection: some Transport) async throws -> [UInt8] {
  var received: [UInt8] = []
  while true {
    let count = try await connection.read { bytes in
      received.append(contentsOf: bytes)
      return bytes.count
    }
    if count == 0 { return received }
  }
}

/// The records a ``RecordingLogHandler`` saw.
final class LogRecords: Sendable {
  struct Record: Sendable {
    let level: Logger.Level
    let message: String
    let metadata: Logger.Metadata
  }

  private let records = Mutex<[Record]>([])

  /// A logger that records everything (trace and up) here.
  var logger: Logger {
    Logger(label: "test") { _ in RecordingLogHandler(records: self) }
  }

  var all: [Record] { records.withLock { $0 } }

  var messages: [String] { all.map(\.message) }

  func add(_ record: Record) { records.withLock { $0.append(record) } }
}

/// A swift-log handler for tests: every record, with the logger's and the record's metadata, into ``LogRecords``.
struct RecordingLogHandler: LogHandler {
  let records: LogRecords
  var logLevel: Logger.Level = .trace
  var metadata: Logger.Metadata = [:]

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    records.add(
      LogRecords.Record(
        level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
  }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held. For waits on something
/// that happens elsewhere (a subscription, a close on the loop), instead of a fixed sleep.
func waitUntil(_ limit: Duration, _ condition: () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + limit
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return await condition()
}

/// Raw HTTP exchanges with a server, below the client: what it answers to requests a client would not send.
enum RawHTTP {
  /// Sends `request` on a raw socket and returns what the server answered (until it closes or 2 s pass).
  static func exchange(_ port: Int, _ request: String) async throws -> String {
    let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: testGroup.loops[1])
    return try await withTaskExecutorPreference(socket.loop) {
      try await socket.write(Array(request.utf8))
      var answer: [UInt8] = []
      while !answer.contains(10) || !String(decoding: answer, as: UTF8.self).contains("\r\n\r\n") {
        let chunk = try await socket.read { Array($0) }
        if chunk.isEmpty { break }
        answer += chunk
      }
      await socket.close()
      return String(decoding: answer, as: UTF8.self)
    }
  }
}
