import Synchronization

/// One connection's subscription to one or more topics: a bounded queue of published messages in bytes, filled by
/// publishers on any thread without waiting and drained on the connection's event loop.
///
/// Invariant: while the queue is not empty, exactly one drain is pending (the subscriber is in its loop's
/// ``FanoutDrainQueue`` or a task of its own waits for the socket), so every queued message is eventually handed
/// to the connection or dropped with the subscriber.
final class TopicSubscriber: Sendable {
  /// What a publisher's ``offer(_:)`` did.
  enum Offer {
    /// Queued; `wake` when the subscriber was idle and its drain must be scheduled.
    case queued(wake: Bool)
    /// Dropped by ``SlowSubscriberPolicy/dropNewest`` (the queue was full), or after dropping `dropped` older ones
    /// for it (``SlowSubscriberPolicy/dropOldest``): counted either way.
    case dropped(count: Int, wake: Bool)
    /// The queue was full and the policy closes: the caller closes the session with this reason (once).
    case close(CloseReason)
    /// The subscriber is gone (closed, unsubscribed, or overflowed earlier).
    case gone
  }

  private enum DrainPhase {
    case idle
    case pending
  }

  private struct State {
    var queue: [PublishedMessage] = []
    var head = 0
    var queuedBytes = 0
    var phase = DrainPhase.idle
    var gone = false
    var dropped = 0
  }

  let connection: WebSocketConnection
  let options: SubscriberOptions
  /// `options.framing`, read once per message by the drain (without copying the options).
  let framing: TopicFraming
  /// The drain queue of the connection's event loop.
  let drainQueue: FanoutDrainQueue
  private let counters: FanoutCounters
  private let state = Mutex(State())

  init(
    connection: WebSocketConnection, options: SubscriberOptions, drainQueue: FanoutDrainQueue,
    counters: FanoutCounters
  ) {
    self.connection = connection
    self.options = options
    self.framing = options.framing
    self.drainQueue = drainQueue
    self.counters = counters
  }

  /// Queues `message`, applying the policy when it does not fit. Never waits.
  func offer(_ message: PublishedMessage) -> Offer {
    state.withLock { state in
      if state.gone { return .gone }
      let queued = state.queue.count - state.head
      var droppedOlder = 0
      // One message always fits an empty queue, whatever its size.
      if queued > 0, state.queuedBytes + message.cost > options.queueLimit {
        switch options.policy {
        case .dropNewest:
          state.dropped += 1
          return .dropped(count: 1, wake: false)
        case .close(let reason):
          counters.discarded.add(queued + 1, ordering: .relaxed)
          state.gone = true
          state.queue = []
          state.head = 0
          state.queuedBytes = 0
          return .close(reason)
        case .dropOldest:
          while state.head < state.queue.count, state.queuedBytes + message.cost > options.queueLimit {
            state.queuedBytes -= state.queue[state.head].cost
            state.head += 1
            droppedOlder += 1
          }
          state.dropped += droppedOlder
        }
      }
      if state.head > 64, state.head * 2 > state.queue.count {
        state.queue.removeFirst(state.head)
        state.head = 0
      }
      state.queue.append(message)
      state.queuedBytes += message.cost
      let wake = state.phase == .idle
      state.phase = .pending
      return droppedOlder > 0 ? .dropped(count: droppedOlder, wake: wake) : .queued(wake: wake)
    }
  }

  /// The oldest queued message, for the drain.
  func takeNext() -> PublishedMessage? {
    state.withLock { state in
      guard state.head < state.queue.count else { return nil }
      let message = state.queue[state.head]
      state.queuedBytes -= message.cost
      state.head += 1
      if state.head == state.queue.count {
        state.queue.removeAll(keepingCapacity: state.queue.capacity <= 1024)
        state.head = 0
      }
      return message
    }
  }

  /// Returns a message the connection could not take yet to the front of the queue.
  func putBack(_ message: PublishedMessage) {
    state.withLock { state in
      if state.head > 0 {
        state.head -= 1
        state.queue[state.head] = message
      } else {
        state.queue.insert(message, at: 0)
      }
      state.queuedBytes += message.cost
    }
  }

  /// Ends the pending drain: `true` when the queue is empty and the subscriber is idle again, `false` when messages
  /// arrived meanwhile (the caller drains again).
  func finishDrain() -> Bool {
    state.withLock { state in
      guard state.head >= state.queue.count || state.gone else { return false }
      state.phase = .idle
      return true
    }
  }

  /// Marks the subscriber gone and releases its queue; later offers answer ``Offer/gone``.
  func retire() {
    state.withLock { state in
      let queued = state.queue.count - state.head
      if queued > 0 { counters.discarded.add(queued, ordering: .relaxed) }
      state.gone = true
      state.queue = []
      state.head = 0
      state.queuedBytes = 0
    }
  }

  /// Bytes queued and messages dropped so far.
  var statistics: (queuedBytes: Int, dropped: Int) {
    state.withLock { ($0.queuedBytes, $0.dropped) }
  }

  /// One pass of the drain, from the loop's drain job: synchronous on the loop thread. When the output is full
  /// (the socket is slow) or the application's fragmented message is open, a task of the subscriber's own takes
  /// over, so that the drain job never waits for one connection.
  func drainFromQueue() async {
    let progress: WebSocketConnection.FanoutProgress
    if let direct = connection.takeFanoutOnExecutorThread(from: self) {
      progress = direct
    } else {
      progress = await connection.takeFanout(from: self)
    }
    switch progress {
    case .drained:
      // Messages that arrived during the pass found the drain pending: this job takes them in its next round.
      if !finishDrain() { drainQueue.schedule(self) }
    case .ended:
      // The connection's end observer unsubscribes it from the topics.
      retire()
    case .outputFull, .waitingForFragments:
      Task(executorPreference: drainQueue.executor) { await self.drainSlowly(after: progress) }
    }
  }

  /// Waits for the connection (the socket's backpressure, or the end of the application's fragmented message)
  /// and drains until the queue is empty.
  private func drainSlowly(after first: WebSocketConnection.FanoutProgress) async {
    var progress = first
    while true {
      switch progress {
      case .drained:
        if finishDrain() { return }
      case .ended:
        retire()
        return
      case .outputFull:
        do { try await connection.waitForFanoutRoom() } catch {
          retire()
          return
        }
      case .waitingForFragments:
        if await connection.isClosed {
          retire()
          return
        }
        try? await Task.sleep(for: .milliseconds(2))
      }
      progress = await connection.takeFanout(from: self)
    }
  }
}
