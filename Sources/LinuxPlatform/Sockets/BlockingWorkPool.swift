import Glibc
import WispCommon

/// A few threads for calls that block (such as `getaddrinfo`), so that neither the event loops nor Swift's
/// cooperative pool ever wait on them.
final class BlockingWorkPool: @unchecked Sendable {
  /// The process-wide pool: 4 threads, enough for concurrent name lookups without a thread per connection.
  static let shared = BlockingWorkPool(threadCount: 4)

  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private var queue: [@Sendable () -> Void] = []

  init(threadCount: Int) {
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(condition, nil)
    for _ in 0..<threadCount {
      PlatformThread.start { [self] in work() }
    }
  }

  /// Runs `body` on a pool thread and returns its result.
  func run<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
      pthread_mutex_lock(mutex)
      queue.append { continuation.resume(returning: body()) }
      pthread_cond_signal(condition)
      pthread_mutex_unlock(mutex)
    }
  }

  private func work() {
    while true {
      pthread_mutex_lock(mutex)
      while queue.isEmpty { pthread_cond_wait(condition, mutex) }
      let item = queue.removeFirst()
      pthread_mutex_unlock(mutex)
      item()
    }
  }
}
