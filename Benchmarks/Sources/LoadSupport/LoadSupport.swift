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

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`, wsload's clock): a round trip is one subtraction, where a
/// `ContinuousClock` duration took 128-bit arithmetic to turn into microseconds on every echo.
public enum LoadClock {
  /// Now, in nanoseconds.
  @inline(__always)
  public static func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
  }
}

/// Counts echoes inside the measured window and their round-trip times (microseconds, bounded histogram). Each
/// connection records into a ``LoadTally`` of its own, without a lock, which hands its samples over in blocks.
public final class LoadRecorder: Sendable {
  private struct State {
    var messages = 0
    var histogram = [Int](repeating: 0, count: 100_000)
  }
  private let state = Mutex(State())
  /// When the run started, the warm-up ends and the run ends, in ``LoadClock`` nanoseconds.
  public let start: UInt64
  public let measureFrom: UInt64
  public let end: UInt64

  public init(_ arguments: LoadArguments) {
    start = LoadClock.now()
    measureFrom = start + UInt64(arguments.warmup * 1e9)
    end = measureFrom + UInt64(arguments.seconds * 1e9)
  }

  /// A connection's recorder.
  public func makeTally() -> LoadTally { LoadTally(self) }

  /// Adds a block of round trips (microseconds).
  func add(_ samples: [UInt32]) {
    state.withLock {
      $0.messages += samples.count
      for sample in samples { $0.histogram[Int(sample)] += 1 }
    }
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

/// One connection's echoes: recorded without a lock, handed to the ``LoadRecorder`` every 4,096 samples and by
/// ``finish()``.
public struct LoadTally {
  private let recorder: LoadRecorder
  private let measureFrom: UInt64
  private let end: UInt64
  private var samples: [UInt32] = []

  init(_ recorder: LoadRecorder) {
    self.recorder = recorder
    measureFrom = recorder.measureFrom
    end = recorder.end
    samples.reserveCapacity(4096)
  }

  /// Records one echo sent at `sentAt` and received at `now` (``LoadClock`` nanoseconds), and returns whether
  /// senders should keep sending; echoes outside the measured window are not counted.
  @inline(__always)
  public mutating func record(sentAt: UInt64, at now: UInt64) -> Bool {
    guard now >= measureFrom, now < end else { return now < end }
    samples.append(UInt32(min(99_999, (now &- sentAt) / 1000)))
    if samples.count == 4096 {
      recorder.add(samples)
      samples.removeAll(keepingCapacity: true)
    }
    return true
  }

  /// Hands the remaining samples over; call once, when the connection is done.
  public mutating func finish() {
    recorder.add(samples)
    samples.removeAll()
  }
}
