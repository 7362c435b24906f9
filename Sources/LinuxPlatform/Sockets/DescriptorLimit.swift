import Glibc

/// The process's open-descriptor limit (`RLIMIT_NOFILE`), which bounds how many connections a server can hold.
public enum DescriptorLimit {
  /// Raises the soft limit to the hard one, as servers do at start (nginx's `worker_rlimit_nofile`, Go's runtime):
  /// the soft default (often 1024) is a compatibility setting for `select`, which nothing here uses. Returns the
  /// soft limit in force afterwards (unchanged when raising fails).
  @discardableResult
  public static func raiseSoftLimitToHard() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
      var raised = limit
      raised.rlim_cur = limit.rlim_max
      if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
    }
    // RLIM_INFINITY is all ones: clamp it (and anything huge) to what a process could ever open.
    return Int(clamping: min(limit.rlim_cur, rlim_t(Int32.max)))
  }

  /// Descriptors kept free of connections out of `softLimit`: for the process's own files, name lookups, TLS
  /// trust stores and the answers to refused clients. An eighth of the limit, at most 256.
  public static func reserve(for softLimit: Int) -> Int { min(256, softLimit / 8) }

  /// The default connection limit of a server: the soft descriptor limit after raising it, less ``reserve(for:)``.
  public static func defaultConnectionLimit() -> Int {
    let soft = raiseSoftLimitToHard()
    return max(1, soft - reserve(for: soft))
  }
}
