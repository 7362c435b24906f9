// Shared by the load clients: the same arguments and the same result line as wsload, so every client is driven and
// reported alike. Usage: CLIENT URL [-c CONNS] [-w WINDOW] [-s SIZE] [-d SECONDS] [--warmup SECONDS]
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The scenario: connections, messages in flight per connection, message size, durations.
public struct LoadArguments: Sendable {
  public var url = "ws://127.0.0.1:9001/"
  public var connections = 64
  public var window = 16
  public var size = 64
  public var seconds = 5.0
  public var warmup = 1.0

  public init(_ arguments: [String] = CommandLine.arguments) {
    var index = 1
    while index < arguments.count {
      let argument = arguments[index]
      let value = index + 1 < arguments.count ? arguments[index + 1] : ""
      switch argument {
      case "-c":
        connections = Int(value) ?? connections
        index += 1
      case "-w":
        window = Int(value) ?? window
        index += 1
      case "-s":
        size = Int(value) ?? size
        index += 1
      case "-d":
        seconds = Double(value) ?? seconds
        index += 1
      case "--warmup":
        warmup = Double(value) ?? warmup
        index += 1
      default: url = argument
      }
      index += 1
    }
  }

  /// The binary payload every client sends.
  public var payload: [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) } }
}

/// Counts echoes inside the measured window and their round-trip times (microseconds, bounded histogram).
public final class LoadRecorder: Sendable {
  private struct State {
    var messages = 0
    var histogram = [Int](repeating: 0, count: 100_000)
  }
  private let state = Mutex(State())
  public let start: ContinuousClock.Instant
  public let measureFrom: ContinuousClock.Instant
  public let end: ContinuousClock.Instant

  public init(_ arguments: LoadArguments) {
    start = .now
    measureFrom = start + .milliseconds(Int(arguments.warmup * 1000))
    end = measureFrom + .milliseconds(Int(arguments.seconds * 1000))
  }

  /// Whether senders should keep sending.
  public var running: Bool { ContinuousClock.now < end }

  /// Records one echo that took `roundTrip`; ignored outside the measured window.
  public func record(sentAt: ContinuousClock.Instant) {
    record(sentAt: sentAt, at: .now)
  }

  /// Records one echo sent at `sentAt` and received at `now`, and returns whether senders should keep sending. One
  /// clock read per echo serves the round trip, the window and the next message's send time (wsload reads the clock
  /// once per read batch; three reads per echo cost the Swift clients about 8 % of their CPU).
  @discardableResult
  public func record(sentAt: ContinuousClock.Instant, at now: ContinuousClock.Instant) -> Bool {
    guard now >= measureFrom, now < end else { return now < end }
    let (seconds, attoseconds) = (now - sentAt).components
    let microseconds = min(99_999, Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000))
    state.withLock {
      $0.messages += 1
      $0.histogram[microseconds] += 1
    }
    return true
  }

  /// Prints the result line in wsload's format.
  public func report(_ arguments: LoadArguments) {
    let (messages, histogram) = state.withLock { ($0.messages, $0.histogram) }
    func percentile(_ p: Double) -> Int {
      let target = max(1, Int((Double(messages) * p).rounded(.up)))
      var seen = 0
      for (value, count) in histogram.enumerated() {
        seen += count
        if seen >= target { return value }
      }
      return histogram.count
    }
    let rate = Double(messages) / arguments.seconds
    print(
      "RESULT msgs=\(messages) secs=\(arguments.seconds) msgs_per_s=\(Int(rate)) "
        + "MB_per_s=\(Double(Int(rate * Double(arguments.size) / 10_000)) / 100) p50_us=\(percentile(0.5)) "
        + "p99_us=\(percentile(0.99))")
  }
}
