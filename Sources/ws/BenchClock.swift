import Glibc

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`, the neutral load generator's clock) for `ws bench`: a round trip is
/// one subtraction, where a `ContinuousClock` duration needs 128-bit arithmetic to become microseconds, per echo.
enum BenchClock {
  /// Now, in nanoseconds.
  @inline(__always)
  static func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
  }

  /// `seconds` in nanoseconds (not negative).
  static func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }
}
