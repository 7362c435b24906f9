import ArgumentParser
import Synchronization
import Wisp

/// `ws bench URL`: load against an echo endpoint.
struct Bench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Load an echo endpoint: messages/s, MB/s and round-trip latency percentiles.",
    discussion: """
      Opens --connections sessions; each keeps --in-flight messages of --size bytes outstanding, sending the next \
      one when an echo returns, for --duration seconds. A progress line goes to standard error every second; the \
      result goes to standard output. Point it at `ws serve --echo` or any echo server.
      """)

  @Argument(help: "ws:// or wss:// URL of an echo endpoint.")
  var url: String

  @Option(help: "Sessions opened at once.")
  var connections = 16

  @Option(name: .customLong("in-flight"), help: "Messages outstanding per session.")
  var inFlight = 1

  @Option(help: "Message size in bytes.")
  var size = 64

  @Option(help: "How long to measure, in seconds.")
  var duration = 10.0

  @Flag(help: "Send text messages (ASCII) instead of binary.")
  var text = false

  @Flag(help: "Offer permessage-deflate.")
  var compress = false

  @Option(help: "Event-loop threads for the sessions (default: one per core).")
  var threads: Int?

  @Option(help: "Seconds of load before measuring (the results leave them out).")
  var warmup = 0.0

  @Flag(
    name: .customLong("result-line"),
    help: ArgumentHelp(
      "Print one machine-readable line instead of the sentences: RESULT msgs=N secs=T msgs_per_s=X MB_per_s=Y "
        + "p50_us=A p99_us=B p999_us=C errors=E conns_ok=K (the neutral load generator's format)."))
  var resultLine = false

  @OptionGroup var tls: ClientTLSOptions
  @OptionGroup var output: OutputOptions

  func validate() throws {
    guard connections > 0, inFlight > 0, size >= 0, duration > 0 else {
      throw ValidationError("--connections, --in-flight and --duration must be positive, --size not negative")
    }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    if warmup < 0 { throw ValidationError("--warmup must not be negative") }
  }

  func run() async throws {
    let group = try threads.map { try EventLoopGroup(loopCount: $0) } ?? .shared
    let client = HttpClient(LinuxEngine(group: group)) { config in
      config.install(WebSockets.self) { plugin in
        plugin.maxFrameSize = max(size, 1 << 20) * 2
        plugin.maxMessageSize = max(size, 1 << 20) * 2
        plugin.incomingCapacity = max(64, inFlight * 2)
        if compress { plugin.extensions { $0.install(WebSocketDeflateExtension.self) } }
        plugin.http2 = tls.http2Preference
        plugin.http2MaxSessionsPerConnection = tls.http2SessionsPerConnection
      }
    }
    var sessions: [DefaultClientWebSocketSession] = []
    do {
      for _ in 0..<connections {
        sessions.append(try await client.webSocketSession(url) { tls.apply(to: &$0.tls) })
      }
    } catch {
      let (status, message) = describeConnectFailure(error)
      Console.error("ws bench: \(message)")
      throw ExitCode(status)
    }
    let statistics = BenchStatistics()
    let payload = (0..<size).map { UInt8(truncatingIfNeeded: 65 + $0 % 26) }
    let frame: Frame = text ? .text(bytes: payload) : .binary(payload)
    let measuredFrom = BenchClock.now() + BenchClock.nanoseconds(warmup)
    let end = measuredFrom + BenchClock.nanoseconds(duration)
    let progress = Task {
      var last = 0
      while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(1))
        let count = statistics.messages
        if !output.quiet && !resultLine { Console.progress("\r\(count - last) msg/s, \(count) echoes so far   ") }
        last = count
      }
    }
    await withTaskGroup(of: Void.self) { group in
      for session in sessions {
        // Each session's loop runs its driver: no thread hop between the socket and the code that answers it.
        group.addTask(executorPreference: session.connection.transport.taskExecutor) {
          await Self.drive(
            session, frame: frame, inFlight: inFlight, measuringFrom: measuredFrom, until: end, into: statistics)
        }
      }
    }
    progress.cancel()
    // At least a nanosecond: sessions that all failed during the warm-up end before the measured window opens.
    let elapsed = max(1, Int64(bitPattern: BenchClock.now() &- measuredFrom))
    if !output.quiet && !resultLine { Console.progress("\n") }
    for session in sessions { _ = try? await session.close() }
    let seconds = Double(elapsed) / 1e9
    let messages = statistics.measured
    let rate = Double(messages) / seconds
    let megabytes = Double(messages) * Double(size) / seconds / 1_000_000
    let latency = statistics.latency
    if resultLine {
      Console.out(
        "RESULT msgs=\(messages) secs=\(Double(Int(seconds * 1000)) / 1000) msgs_per_s=\(Int(rate)) "
          + "MB_per_s=\(Double(Int(megabytes * 100)) / 100) p50_us=\(latency.percentile(50)) "
          + "p99_us=\(latency.percentile(99)) p999_us=\(latency.percentile(99.9)) errors=\(statistics.errors) "
          + "conns_ok=\(connections - statistics.errors)")
      if statistics.errors > 0 { throw ExitCode(ExitStatus.failure) }
      return
    }
    Console.out(
      "\(connections) connections x \(inFlight) in flight, \(size) B \(text ? "text" : "binary")"
        + "\(compress ? " (deflate)" : ""): \(Int(rate)) msg/s, \(Double(Int(megabytes * 100)) / 100) MB/s echoed")
    Console.out(
      "latency p50 \(latency.percentile(50)) µs, p90 \(latency.percentile(90)) µs, p99 \(latency.percentile(99)) µs, "
        + "max \(latency.maximum) µs")
    if statistics.errors > 0 {
      Console.error("ws bench: \(statistics.errors) sessions failed")
      throw ExitCode(ExitStatus.failure)
    }
  }

  /// One session: `inFlight` messages outstanding; echoes come back in order, so a FIFO of send times gives each
  /// round trip.
  static func drive(
    _ session: DefaultClientWebSocketSession, frame: Frame, inFlight: Int,
    measuringFrom start: UInt64, until end: UInt64, into statistics: BenchStatistics
  ) async {
    var sentAt: [UInt64] = []
    var head = 0
    var local = LatencyHistogram()
    var count = 0
    var measured = 0
    do {
      var now = BenchClock.now()
      for _ in 0..<inFlight {
        sentAt.append(now)
        try await session.send(frame)
      }
      while head < sentAt.count {
        // One clock read per wake-up, as the neutral load generator reads it once per read: the echoes that
        // arrived together (already queued) share it with their round trips, the window and the messages sent in
        // answer.
        if await session.incoming.tryReceive() == nil {
          _ = try await session.incoming.receive()
          now = BenchClock.now()
        }
        if now >= start {
          local.record(nanoseconds: now &- sentAt[head])
          measured += 1
        }
        head += 1
        count += 1
        if count % 256 == 0 { statistics.add(messages: 256) }
        if now < end {
          sentAt.append(now)
          try await session.send(frame)
        }
        if head > 4096 {
          sentAt.removeFirst(head)
          head = 0
        }
      }
    } catch {
      statistics.addError()
    }
    statistics.add(messages: count % 256)
    statistics.addMeasured(measured)
    statistics.merge(local)
  }
}

/// Counters shared by the sessions.
final class BenchStatistics: Sendable {
  private let state = Mutex((messages: 0, measured: 0, errors: 0, latency: LatencyHistogram()))

  var messages: Int { state.withLock { $0.messages } }
  /// Echoes received after the warm-up.
  var measured: Int { state.withLock { $0.measured } }
  var errors: Int { state.withLock { $0.errors } }
  var latency: LatencyHistogram { state.withLock { $0.latency } }

  func add(messages: Int) { state.withLock { $0.messages += messages } }
  func addMeasured(_ messages: Int) { state.withLock { $0.measured += messages } }
  func addError() { state.withLock { $0.errors += 1 } }
  func merge(_ histogram: LatencyHistogram) { state.withLock { $0.latency.merge(histogram) } }
}

/// Round-trip times in microseconds: exact below 10 ms, 1 ms buckets up to 100 s (bounded memory).
struct LatencyHistogram: Sendable {
  private var fine = [Int](repeating: 0, count: 10_000)
  private var coarse = [Int](repeating: 0, count: 100_000)
  private(set) var count = 0
  private(set) var maximum = 0

  mutating func record(nanoseconds: UInt64) {
    let microseconds = Int(truncatingIfNeeded: nanoseconds / 1000)
    if microseconds < fine.count {
      fine[microseconds] += 1
    } else {
      coarse[min(coarse.count - 1, microseconds / 1000)] += 1
    }
    count += 1
    maximum = max(maximum, microseconds)
  }

  mutating func merge(_ other: LatencyHistogram) {
    for index in fine.indices { fine[index] += other.fine[index] }
    for index in coarse.indices { coarse[index] += other.coarse[index] }
    count += other.count
    maximum = max(maximum, other.maximum)
  }

  /// The value below which `percent` of the samples lie, in microseconds.
  func percentile(_ percent: Double) -> Int {
    guard count > 0 else { return 0 }
    let target = Int((Double(count) * percent / 100).rounded(.up))
    var seen = 0
    for (value, samples) in fine.enumerated() {
      seen += samples
      if seen >= target { return value }
    }
    for (bucket, samples) in coarse.enumerated() {
      seen += samples
      if seen >= target { return bucket * 1000 }
    }
    return maximum
  }
}
