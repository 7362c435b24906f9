import CWispSystem
import Glibc

/// Monotonic time in nanoseconds, for the loop's timers.
enum Monotonic {
  /// Now, from `CLOCK_MONOTONIC`.
  static func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
  }

  /// A non-negative duration in nanoseconds, saturating.
  static func nanoseconds(_ duration: Duration) -> UInt64 {
    let (seconds, attoseconds) = duration.components
    if seconds < 0 { return 0 }
    let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return UInt64.max / 2 }
    return whole &+ UInt64(attoseconds / 1_000_000_000)
  }
}
