import CWispSystem
import Glibc
import Synchronization
import WispCommon

/// One epoll event loop on its own thread, and a Swift executor that runs jobs on that thread.
///
/// Sockets registered with the loop report readiness on this thread; the tasks and actors that serve those
/// sockets use the loop as their executor, so a message goes from the socket to the session, and the reply back,
/// without a thread hop. Everything the loop owns (registrations, timers, the read buffer) is touched only on
/// the loop thread; other threads talk to it through ``enqueue(_:)`` and ``execute(_:)``, which wake it through an
/// eventfd.
public final class EventLoop: TaskExecutor, @unchecked Sendable, CustomStringConvertible {
  /// The size of the loop's shared read buffer: 64 KiB per read amortizes the system call and fits L2.
  public static let readBufferSize = 64 * 1024

  /// The loop's number within its group, for logs.
  public let index: Int

  let epollFD: Int32
  private let wakeFD: Int32
  private let wakeToken = UInt64.max
  /// Written once in `init`, before the loop is shared; every later reader is ordered after that write by the
  /// mutex through which work reaches the loop.
  private nonisolated(unsafe) var threadID = pthread_t()

  /// A job and the role it was enqueued under: tasks that prefer the loop (``TaskExecutor``) run without actor
  /// isolation, so calling nonisolated code does not switch executors; actor jobs (``serialExecutor``) run isolated
  /// to the loop's serial executor.
  struct Job {
    let job: UnownedJob
    let isSerial: Bool
  }

  /// The loop as the serial executor of actors (sessions) that serve its connections.
  package var serialExecutor: LoopSerialExecutor { unownedSerialExecutorOwner }
  /// Set once in `init`, before the loop is shared (a stored property, not `lazy`: the runtime asks for the executor
  /// on every actor hop).
  private nonisolated(unsafe) var unownedSerialExecutorOwner: LoopSerialExecutor!
  /// The serial executor as the runtime's reference, computed once.
  private nonisolated(unsafe) var unownedSerial: UnownedSerialExecutor!

  private struct Incoming {
    var jobs: [Job] = []
    var closures: [@Sendable () -> Void] = []
    var sleeping = false
    var stopping = false
  }
  private let incoming = Mutex(Incoming())

  // Loop-thread state. Only the loop thread touches it, one job at a time, so the dynamic exclusivity checks of
  // class properties (a `swift_beginAccess` per access, several per message batch) are off, as in
  // `WebSocketConnection` (docs/decisions/0009).
  @exclusivity(unchecked) private var localJobs: [Job] = []
  @exclusivity(unchecked) private var runningJobs: [Job] = []
  @exclusivity(unchecked) private var timers = TimerQueue()
  /// Sockets with queued writes, written when the loop has run its jobs (`SocketTransport.write(_:)`).
  @exclusivity(unchecked) private var deferredFlushes: [SocketTransport] = []
  /// Push-mode sockets to read at the start of the next turn (`SocketTransport.resumeReading()`).
  @exclusivity(unchecked) private var deferredReads: [SocketTransport] = []
  /// The batch being read or flushed (swapped with the lists above, so that a turn allocates nothing).
  @exclusivity(unchecked) private var deferredBatch: [SocketTransport] = []
  /// The closures taken from the queue for this turn (swapped with it, for the same reason: copying the queue out and
  /// emptying it kept the capacity by allocating a new buffer on every turn, and a turn's large allocation made
  /// malloc consolidate its small free chunks, which the next messages' payloads then paid for).
  @exclusivity(unchecked) private var closureBatch: [@Sendable () -> Void] = []
  /// Spare payload buffers shared by the sessions on this loop (`PayloadPoolProviding.payloadPool`); used on the loop
  /// thread only.
  let payloadPool = PayloadBufferPool()
  /// The timer that releases the classes of ``payloadPool`` nothing was taken from
  /// (`PayloadBufferPool.releaseUnused()`); armed at the end of a turn while the pool keeps anything, so an idle
  /// loop with an empty pool has no timer.
  @exclusivity(unchecked) private(set) var payloadReleaseTimer: TimerHandle?
  /// How often the pool's unused classes are released: 10 s (tests shorten it); loop thread only.
  @exclusivity(unchecked) var payloadReleaseInterval = Duration.seconds(10)
  /// The read buffer shared by every transport of this loop; valid during one `read` body.
  let readBuffer: UnsafeMutableRawBufferPointer
  /// A second buffer for TLS plaintext, so that TLS can read ciphertext into ``readBuffer`` and decrypt here.
  let plaintextBuffer: UnsafeMutableRawBufferPointer

  /// Creates a loop and starts its thread.
  public init(index: Int = 0) throws(TransportError) {
    self.index = index
    let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
    guard epoll >= 0 else { throw .system(operation: "epoll_create1", errno: errno, message: Errno.message(errno)) }
    let wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
    guard wake >= 0 else {
      Glibc.close(epoll)
      throw .system(operation: "eventfd", errno: errno, message: Errno.message(errno))
    }
    epollFD = epoll
    wakeFD = wake
    readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 64)
    plaintextBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 64)
    var event = epoll_event()
    event.events = EPOLLIN.rawValue
    event.data.u64 = wakeToken
    epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
    unownedSerialExecutorOwner = LoopSerialExecutor(loop: self)
    unownedSerial = unownedSerialExecutorOwner.asUnownedSerialExecutor()
    startThread()
  }

  /// `"EventLoop #0"`.
  public var description: String { "EventLoop #\(index)" }

  // MARK: Threads

  private func startThread() {
    threadID = PlatformThread.start { [self] in run() }
  }

  /// `true` when called on the loop's thread. It runs twice per message (the session's synchronous receive and
  /// send): `pthread_t` is an integer on Linux, so one call into libc (`pthread_self`) instead of two.
  public var inEventLoop: Bool {
    pthread_self() == threadID
  }

  /// Traps unless called on the loop's thread: transports are confined to their loop.
  public func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
    precondition(inEventLoop, "\(self) used from another thread", file: file, line: line)
  }

  // MARK: Executor

  /// Runs a task's `job` on the loop thread (task executor role).
  public func enqueue(_ job: consuming ExecutorJob) {
    enqueue(Job(job: UnownedJob(job), isSerial: false))
  }

  /// Runs `job` on the loop thread. From the loop thread this is a plain append; from elsewhere it takes a lock
  /// and wakes the loop if it sleeps.
  func enqueue(_ job: Job) {
    if inEventLoop {
      localJobs.append(job)
      return
    }
    let wake = incoming.withLock { state -> Bool in
      state.jobs.append(job)
      defer { state.sleeping = false }
      return state.sleeping
    }
    if wake { signalWake() }
  }

  /// Runs `body` on the loop thread, soon (never inline).
  public func execute(_ body: @escaping @Sendable () -> Void) {
    let wake = incoming.withLock { state -> Bool in
      state.closures.append(body)
      defer { state.sleeping = false }
      return state.sleeping
    }
    if wake { signalWake() }
  }

  /// Runs `body` on the loop thread and returns its result to the caller.
  public func submit<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
      execute { continuation.resume(with: Swift.Result { try body() }) }
    }
  }

  /// This loop as the serial executor of actors that serve its connections.
  public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
    unownedSerial
  }

  private func signalWake() {
    var one: UInt64 = 1
    _ = Glibc.write(wakeFD, &one, 8)
  }

  /// Writes `transport`'s queue when the loop has run its current jobs. Loop thread only.
  func deferFlush(_ transport: SocketTransport) {
    deferredFlushes.append(transport)
  }

  /// Reads `transport` (push mode) at the start of the next turn, before the jobs run. Loop thread only.
  func deferRead(_ transport: SocketTransport) {
    deferredReads.append(transport)
  }

  private func runDeferredReads() {
    guard !deferredReads.isEmpty else { return }
    swap(&deferredReads, &deferredBatch)
    for transport in deferredBatch { transport.deliverReads() }
    deferredBatch.removeAll(keepingCapacity: true)
  }

  private func runDeferredFlushes() {
    // Flushing spawns no jobs unless a socket is full (then a task waits for it).
    while !deferredFlushes.isEmpty {
      swap(&deferredFlushes, &deferredBatch)
      for transport in deferredBatch { transport.flushDeferred() }
      deferredBatch.removeAll(keepingCapacity: true)
    }
  }

  // MARK: Timers

  /// Schedules `body` on the loop thread after `delay`; returns a handle that cancels it. Loop thread only.
  ///
  /// Delays of 1.07 s or more get 0.1 % slack and `leeway` (default none) widens it, so that timers due together
  /// share a wake-up (``TimerQueue/deadline(now:delay:leeway:)``): the timer never fires early, and late by at most
  /// the slack.
  func schedule(after delay: Duration, leeway: Duration = .zero, _ body: @escaping () -> Void) -> TimerHandle {
    preconditionInEventLoop()
    let deadline = TimerQueue.deadline(
      now: Monotonic.now(), delay: Monotonic.nanoseconds(delay), leeway: Monotonic.nanoseconds(leeway))
    return timers.schedule(deadline: deadline, body)
  }

  /// Cancels a scheduled timer; loop thread only.
  func cancel(_ handle: TimerHandle) {
    timers.cancel(handle)
  }

  /// Suspends the calling task for `duration`, using the loop's timers; throws `CancellationError` when the task
  /// is cancelled first. A sleep of 1.07 s or more may end up to 0.1 % late (the loop's timer slack, so that timers
  /// due together share a wake-up), never early.
  public func sleep(for duration: Duration) async throws {
    let state = SleepState()
    try await withTaskCancellationHandler {
      try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
        execute { [self] in
          if state.cancelled {
            continuation.resume(throwing: CancellationError())
            return
          }
          state.continuation = continuation
          state.handle = schedule(after: duration) {
            state.continuation = nil
            continuation.resume()
          }
        }
      }
    } onCancel: {
      execute { [self] in
        state.cancelled = true
        if let continuation = state.continuation, let handle = state.handle {
          state.continuation = nil
          cancel(handle)
          continuation.resume(throwing: CancellationError())
        }
      }
    }
  }

  /// Loop-confined state of one `sleep`.
  private final class SleepState: @unchecked Sendable {
    var cancelled = false
    var continuation: UnsafeContinuation<Void, any Error>?
    var handle: TimerHandle?
  }

  // MARK: Running

  /// Stops the loop after the current iteration. Registered sockets must have been closed first.
  public func shutdown() {
    incoming.withLock { $0.stopping = true }
    signalWake()
  }

  private func run() {
    let maxEvents = 256
    let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
    defer { events.deallocate() }
    while true {
      runDeferredReads()
      runJobs()
      let (stopping, haveWork) = incoming.withLock { state -> (Bool, Bool) in
        swap(&state.closures, &closureBatch)
        let haveWork = !state.jobs.isEmpty || !closureBatch.isEmpty
        // Sleep only when nothing is queued; `enqueue` and `execute` from other threads then wake us.
        state.sleeping = !haveWork && localJobs.isEmpty && deferredReads.isEmpty
        return (state.stopping, haveWork)
      }
      if stopping { break }
      let hadClosures = !closureBatch.isEmpty
      for closure in closureBatch { closure() }
      closureBatch.removeAll(keepingCapacity: true)
      runDeferredFlushes()
      if payloadReleaseTimer == nil && payloadPool.keptBytes > 0 { armPayloadRelease() }
      let mustPoll = haveWork || !localJobs.isEmpty || hadClosures || !deferredReads.isEmpty
      let timeout: Int32 = mustPoll ? 0 : timers.millisecondsUntilNext(now: Monotonic.now())
      let count = epoll_wait(epollFD, events, Int32(maxEvents), timeout)
      incoming.withLock { $0.sleeping = false }
      if count > 0 {
        for index in 0..<Int(count) {
          let event = events[index]
          if event.data.u64 == wakeToken {
            var value: UInt64 = 0
            _ = Glibc.read(wakeFD, &value, 8)
            continue
          }
          guard let pointer = UnsafeRawPointer(bitPattern: UInt(event.data.u64)) else { continue }
          Unmanaged<Registration>.fromOpaque(pointer).takeUnretainedValue().handle(events: event.events)
        }
      }
      // Only the timers scheduled before this round: one whose body arms another for a passed deadline (a session
      // whose timer's work runs in a task it started) fires again on the next turn, after that task's jobs.
      let now = Monotonic.now()
      let scheduledUpTo = timers.lastScheduledID
      while let body = timers.popDue(now: now, scheduledUpTo: scheduledUpTo) { body() }
    }
    Glibc.close(epollFD)
    Glibc.close(wakeFD)
  }

  /// Arms the timer that releases the payload pool's unused classes; the loop re-arms it on a later turn while the
  /// pool still keeps anything (not from the timer itself, which runs while the timer queue is firing).
  private func armPayloadRelease() {
    payloadReleaseTimer = schedule(after: payloadReleaseInterval) { [unowned self] in
      payloadReleaseTimer = nil
      payloadPool.releaseUnused()
    }
  }

  private func runJobs() {
    // Jobs that these jobs enqueue (a task resuming another, an actor hop) run in the same pass, up to a bound of
    // rounds, so that a hop costs no epoll_wait; after the bound, I/O gets its turn.
    incoming.withLock { state in
      if !state.jobs.isEmpty {
        localJobs.append(contentsOf: state.jobs)
        state.jobs.removeAll(keepingCapacity: true)
      }
    }
    let taskExecutor = asUnownedTaskExecutor()
    let serial = unownedSerial!
    var rounds = 0
    while !localJobs.isEmpty && rounds < 16 {
      rounds += 1
      swap(&localJobs, &runningJobs)
      for entry in runningJobs {
        if entry.isSerial {
          // With the loop as task executor too: a task isolated to a connection that prefers the loop (the
          // server's session task, clients' tasks) then hops back to that connection inline after each await.
          // Without it, the runtime saw "same actor, different task executor" and re-enqueued such a task on every
          // hop (`mustSwitchToRun`; docs/decisions/0030; 0011 chose the other way when the session task had no
          // preference).
          entry.job.runSynchronously(isolatedTo: serial, taskExecutor: taskExecutor)
        } else {
          entry.job.runSynchronously(on: taskExecutor)
        }
      }
      runningJobs.removeAll(keepingCapacity: true)
    }
  }
}

/// An event loop in its serial-executor role: actors whose `unownedExecutor` is this run on the loop's thread.
package final class LoopSerialExecutor: SerialExecutor, @unchecked Sendable {
  unowned let loop: EventLoop

  init(loop: EventLoop) {
    self.loop = loop
  }

  /// Runs an actor's job on the loop thread.
  package func enqueue(_ job: consuming ExecutorJob) {
    loop.enqueue(EventLoop.Job(job: UnownedJob(job), isSerial: true))
  }

  /// The executor reference for actors.
  package func asUnownedSerialExecutor() -> UnownedSerialExecutor {
    UnownedSerialExecutor(ordinary: self)
  }

  /// Lets `assumeIsolated` and `preconditionIsolated` check that code runs on the loop.
  package func checkIsolated() {
    loop.preconditionInEventLoop()
  }

  /// Whether the current thread is the loop's (the runtime's `isIsolatingCurrentContext` hook).
  package func isIsolatingCurrentContext() -> Bool? {
    loop.inEventLoop
  }
}
