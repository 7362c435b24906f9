import Synchronization

/// Fan-out: sessions subscribe to topics, and a message published to a topic goes to every subscriber without the
/// publisher waiting for any of them.
///
/// ```swift
/// let topics = Topics()
/// routing.webSocket("/chat/{room}") { session in
///   let room = session.call.parameters["room"] ?? "lobby"
///   await topics.subscribe(session, to: room)
///   for try await frame in session.incoming {
///     if let message = TopicMessage(frame) { try? topics.publish(message, to: room) }
///   }
/// }
/// ```
///
/// A published message is encoded once for all plain subscribers and compressed once per set of compressor
/// parameters for subscribers whose permessage-deflate has no context takeover (`FanoutEncoding`). Each
/// subscriber has a bounded queue in bytes (``SubscriberOptions``); a full queue meets the subscriber's
/// ``SlowSubscriberPolicy`` at once, so a slow subscriber never delays another or the publisher. A session is
/// unsubscribed from every topic when it ends.
///
/// With a ``PubSubBackend`` (``InProcessPubSub``, or the platform's Redis backend), messages also reach the
/// subscribers of the same topic in every other hub on the backend; ``events`` says when that link is lost and what
/// may have been missed.
public final class Topics: PubSubSink, Sendable {
  /// The default options of a subscriber (`subscribe(_:to:options:)` may give others).
  public let defaultOptions: SubscriberOptions
  /// The backend that links this hub to others; `nil`: this process only.
  public let backend: (any PubSubBackend)?
  /// What the backend reports (connected, disconnected, reconnected with the window that may be lost, gaps),
  /// newest 64 kept when nobody reads. Finishes when the hub is shut down.
  public let events: AsyncStream<PubSubEvent>
  private let eventSink: AsyncStream<PubSubEvent>.Continuation
  /// The history kept in this process (with a ``TopicHistoryPolicy`` and no ``TopicHistoryBackend``); the lock is
  /// held while a message gets its offset and is offered, so that every subscriber sees offsets in order.
  let memoryHistory: LockedTopicHistory?
  /// The backend that orders and keeps the history, when it is one.
  let historyBackend: (any TopicHistoryBackend)?
  /// The tokens of ``TopicHistoryBackend/append(_:to:token:confirmed:)``.
  private let nextToken = Atomic<UInt64>(1)

  struct Members {
    var list: [TopicSubscriber] = []
    var index: [ObjectIdentifier: Int] = [:]

    mutating func insert(_ subscriber: TopicSubscriber) -> Bool {
      let id = ObjectIdentifier(subscriber)
      guard index[id] == nil else { return false }
      index[id] = list.count
      list.append(subscriber)
      return true
    }

    mutating func remove(_ subscriber: TopicSubscriber) {
      guard let position = index.removeValue(forKey: ObjectIdentifier(subscriber)) else { return }
      let last = list.removeLast()
      if position < list.count {
        list[position] = last
        index[ObjectIdentifier(last)] = position
      }
    }
  }

  struct State {
    var topics: [String: Members] = [:]
    /// Subscribers catching up from the history, by topic: live messages wait in their buffers meanwhile.
    var recovering: [String: [ObjectIdentifier: RecoveryBuffer]] = [:]
    /// The offset of the last message offered live, by topic (topics with a history): a resume goes live only
    /// once the live path has passed what the history gave it.
    var liveLatest: [String: TopicOffset] = [:]
    /// The session left out of a message this hub appended through a ``TopicHistoryBackend``, by token.
    var exclusions: [UInt64: ObjectIdentifier] = [:]
    /// Each connection's subscriber and the topics it is in.
    var subscribers: [ObjectIdentifier: (subscriber: TopicSubscriber, topics: Set<String>)] = [:]
    var drainQueues: [ObjectIdentifier: FanoutDrainQueue] = [:]
    var poolDrainQueue: FanoutDrainQueue?
  }

  let state = Mutex(State())
  let counters = FanoutCounters()

  /// Creates a hub.
  ///
  /// - Parameters:
  ///   - backend: links this hub to others (other processes through Redis); default none.
  ///   - defaultOptions: each subscriber's queue limit and policy unless `subscribe(_:to:options:)` says
  ///     otherwise; default 1 MiB, drop the oldest.
  ///   - history: keep each topic's newest messages in this process, give every message an offset, and let
  ///     subscribers resume (`subscribe(_:to:from:options:timeout:)`); default none. Ignored with a
  ///     ``TopicHistoryBackend`` (Redis Streams), which keeps the history itself, with its own policy.
  public init(
    backend: (any PubSubBackend)? = nil, defaultOptions: SubscriberOptions = SubscriberOptions(),
    history: TopicHistoryPolicy? = nil
  ) {
    self.backend = backend
    self.defaultOptions = defaultOptions
    historyBackend = backend as? any TopicHistoryBackend
    memoryHistory = historyBackend == nil ? history.map { LockedTopicHistory(policy: $0) } : nil
    (events, eventSink) = AsyncStream.makeStream(of: PubSubEvent.self, bufferingPolicy: .bufferingNewest(64))
    backend?.attach(self)
  }

  // MARK: Subscribing

  /// Subscribes `session` to `topic` (nothing happens when it already is). The first subscription of a session
  /// fixes its queue's `options` (default ``defaultOptions``); it is unsubscribed from every topic when it ends.
  public func subscribe(_ session: some WebSocketSession, to topic: String, options: SubscriberOptions? = nil) async {
    await subscribe(session.connection, to: topic, options: options)
  }

  /// ``subscribe(_:to:options:)`` for a connection.
  public func subscribe(_ connection: WebSocketConnection, to topic: String, options: SubscriberOptions? = nil) async {
    await register(connection, to: topic, options: options, recovering: false)
  }

  /// Adds `connection` to `topic`, live or catching up from the history (its live messages then wait in a
  /// ``RecoveryBuffer``); `nil` when it was already in the topic.
  @discardableResult
  func register(
    _ connection: WebSocketConnection, to topic: String, options: SubscriberOptions?, recovering: Bool
  ) async -> TopicSubscriber? {
    let connectionID = ObjectIdentifier(connection)
    let (subscriber, isNew, firstInTopic) = state.withLock { state -> (TopicSubscriber?, Bool, Bool) in
      var isNew = false
      if state.subscribers[connectionID] == nil {
        let executor = connection.transport.taskExecutor
        let queue: FanoutDrainQueue
        if let executor {
          let key = ObjectIdentifier(executor)
          if let existing = state.drainQueues[key] {
            queue = existing
          } else {
            queue = FanoutDrainQueue(executor: executor)
            state.drainQueues[key] = queue
          }
        } else {
          if state.poolDrainQueue == nil { state.poolDrainQueue = FanoutDrainQueue(executor: nil) }
          queue = state.poolDrainQueue!
        }
        let subscriber = TopicSubscriber(
          connection: connection, options: options ?? defaultOptions, drainQueue: queue, counters: counters)
        state.subscribers[connectionID] = (subscriber, [])
        isNew = true
      }
      guard let subscriber = state.subscribers[connectionID]?.subscriber,
        state.subscribers[connectionID]?.topics.insert(topic).inserted == true
      else { return (nil, isNew, false) }
      let wasEmpty = state.topics[topic] == nil && state.recovering[topic] == nil
      if recovering {
        state.recovering[topic, default: [:]][connectionID] = RecoveryBuffer(
          limit: max(64 * 1024, subscriber.options.queueLimit))
      } else {
        _ = state.topics[topic, default: Members()].insert(subscriber)
      }
      return (subscriber, isNew, wasEmpty)
    }
    if firstInTopic { backend?.subscribe(topic) }
    if isNew {
      // Registered after the subscription: a connection that has already ended calls back at once.
      await connection.onEnd { [weak self, weak connection] _ in
        guard let self, let connection else { return }
        self.unsubscribeAll(connection)
      }
    }
    return subscriber
  }

  /// Unsubscribes `session` from `topic`.
  public func unsubscribe(_ session: some WebSocketSession, from topic: String) {
    unsubscribe(session.connection, from: topic)
  }

  /// ``unsubscribe(_:from:)`` for a connection.
  public func unsubscribe(_ connection: WebSocketConnection, from topic: String) {
    let connectionID = ObjectIdentifier(connection)
    let lastInTopic = state.withLock { state -> Bool in
      guard let entry = state.subscribers[connectionID], entry.topics.contains(topic) else { return false }
      state.subscribers[connectionID]?.topics.remove(topic)
      if state.subscribers[connectionID]?.topics.isEmpty == true {
        state.subscribers[connectionID] = nil
        entry.subscriber.retire()
      }
      return Self.removeMember(entry.subscriber, from: topic, in: &state)
    }
    if lastInTopic { backend?.unsubscribe(topic) }
  }

  /// Unsubscribes `session` from every topic (done automatically when it ends).
  public func unsubscribeAll(_ session: some WebSocketSession) {
    unsubscribeAll(session.connection)
  }

  /// ``unsubscribeAll(_:)`` for a connection.
  public func unsubscribeAll(_ connection: WebSocketConnection) {
    let emptied = state.withLock { state -> [String] in
      guard let entry = state.subscribers.removeValue(forKey: ObjectIdentifier(connection)) else { return [] }
      entry.subscriber.retire()
      return entry.topics.filter { Self.removeMember(entry.subscriber, from: $0, in: &state) }
    }
    for topic in emptied { backend?.unsubscribe(topic) }
  }

  /// Removes `subscriber` from `topic`; returns whether the topic has no subscriber left.
  static func removeMember(_ subscriber: TopicSubscriber, from topic: String, in state: inout State) -> Bool {
    state.topics[topic]?.remove(subscriber)
    if state.recovering[topic]?.removeValue(forKey: ObjectIdentifier(subscriber.connection)) != nil,
      state.recovering[topic]?.isEmpty == true
    {
      state.recovering[topic] = nil
    }
    if state.topics[topic]?.list.isEmpty == true { state.topics[topic] = nil }
    guard state.topics[topic] == nil && state.recovering[topic] == nil else { return false }
    state.liveLatest[topic] = nil
    return true
  }

  /// The number of sessions subscribed to `topic` in this process.
  public func subscriberCount(of topic: String) -> Int {
    state.withLock { $0.topics[topic]?.list.count ?? 0 }
  }

  /// The topics with at least one subscriber in this process.
  public var activeTopics: [String] { state.withLock { Array($0.topics.keys) } }

  // MARK: Publishing

  /// Publishes `message` to every subscriber of `topic` in this process, then hands it to the backend for the
  /// other processes. Never waits: each subscriber's queue takes it or applies its policy.
  ///
  /// With a history, the message gets the topic's next offset. In this process's memory the offset is known at
  /// once and returned. With a ``TopicHistoryBackend`` (Redis Streams) the backend appends the message and every
  /// hub, this one included, delivers it when it comes back in the topic's order: `nil` is returned (
  /// ``publishConfirmed(_:to:excluding:)`` waits for the offset).
  ///
  /// - Throws: ``PubSubError`` from the backend (for example ``PubSubError/bufferFull(limit:)`` while Redis is
  ///   unreachable); this process's subscribers have the message already (not with a ``TopicHistoryBackend``,
  ///   where nobody gets a message the backend did not take).
  ///
  /// - Parameters:
  ///   - message: the whole text or binary message.
  ///   - topic: the topic's name.
  ///   - excluded: a session of this process that does not get the message (the sender, in a chat room where a
  ///     message goes to "everyone else").
  /// - Returns: the message's offset when this hub gives it.
  @discardableResult
  public func publish(
    _ message: TopicMessage, to topic: String, excluding excluded: (any WebSocketSession)? = nil
  ) throws(PubSubError) -> TopicOffset? {
    try publish(message, to: topic, excluding: excluded.map { ObjectIdentifier($0.connection) }, confirmed: nil)
  }

  /// ``publish(_:to:excluding:)``, then waits until the message has its offset: at once in memory, when the
  /// backend has appended it with a ``TopicHistoryBackend``. `nil` without a history (or for a repeat the backend
  /// recognized after a reconnection).
  public func publishConfirmed(
    _ message: TopicMessage, to topic: String, excluding excluded: (any WebSocketSession)? = nil
  ) async throws(PubSubError) -> TopicOffset? {
    guard historyBackend != nil else { return try publish(message, to: topic, excluding: excluded) }
    let excludedID = excluded.map { ObjectIdentifier($0.connection) }
    let result = await withCheckedContinuation {
      (continuation: CheckedContinuation<Result<TopicOffset?, PubSubError>, Never>) in
      do throws(PubSubError) {
        _ = try publish(message, to: topic, excluding: excludedID) { continuation.resume(returning: $0) }
      } catch {
        continuation.resume(returning: .failure(error))
      }
    }
    return try result.get()
  }

  private func publish(
    _ message: TopicMessage, to topic: String, excluding excluded: ObjectIdentifier?,
    confirmed: (@Sendable (Result<TopicOffset?, PubSubError>) -> Void)?
  ) throws(PubSubError) -> TopicOffset? {
    if let historyBackend {
      var token: UInt64?
      if let excluded {
        let next = nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        token = next
        state.withLock { state in
          // Tokens of appends that never came back (the backend lost them): forget them in bulk.
          if state.exclusions.count >= 65_536 { state.exclusions.removeAll() }
          state.exclusions[next] = excluded
        }
      }
      do {
        try historyBackend.append(message, to: topic, token: token, confirmed: confirmed)
      } catch {
        if let token { _ = state.withLock { $0.exclusions.removeValue(forKey: token) } }
        throw error
      }
      return nil
    }
    let offset = offerWithOffset(message, to: topic, excluding: excluded)
    try backend?.publish(message, to: topic)
    return offset
  }

  /// Gives `message` its offset when this process keeps the history, and offers it to the topic's subscribers.
  private func offerWithOffset(_ message: TopicMessage, to topic: String, excluding excluded: ObjectIdentifier?)
    -> TopicOffset?
  {
    guard let memoryHistory else {
      offerLive(PublishedMessage(message, counters: counters), to: topic, excluding: excluded)
      return nil
    }
    return memoryHistory.withLock { history in
      let offset = history.append(message, to: topic)
      offerLive(PublishedMessage(message, offset: offset, counters: counters), to: topic, excluding: excluded)
      return offset
    }
  }

  /// Delivers a message that another hub published (``PubSubSink``).
  public func deliver(_ message: TopicMessage, to topic: String) {
    _ = offerWithOffset(message, to: topic, excluding: nil)
  }

  /// Delivers a message of a ``TopicHistoryBackend`` (``PubSubSink``).
  public func deliver(_ message: TopicMessage, to topic: String, at offset: TopicOffset, token: UInt64?) {
    let excluded = token.flatMap { token in state.withLock { $0.exclusions.removeValue(forKey: token) } }
    offerLive(PublishedMessage(message, offset: offset, counters: counters), to: topic, excluding: excluded)
  }

  /// Reports a gap in a ``TopicHistoryBackend``'s live feed on ``events`` and in-band to the topic's subscribers
  /// with ``TopicFraming/offsetPrefixed`` framing (``PubSubSink``).
  public func historyGap(_ gap: TopicGap) {
    eventSink.yield(.historyGap(gap))
    let members = state.withLock { $0.topics[gap.topic]?.list } ?? []
    let notice = PublishedMessage(TopicFraming.notice(of: gap), counters: counters)
    for subscriber in members where subscriber.framing == .offsetPrefixed {
      if case .queued(true) = subscriber.offer(notice) { subscriber.drainQueue.schedule(subscriber) }
    }
  }

  /// Reports a backend event on ``events`` (``PubSubSink``).
  public func backendEvent(_ event: PubSubEvent) {
    eventSink.yield(event)
  }

  /// Offers `published` to the topic's live subscribers and to the buffers of those catching up.
  func offerLive(_ published: PublishedMessage, to topic: String, excluding excluded: ObjectIdentifier?) {
    counters.published.add(1, ordering: .relaxed)
    guard
      let members = state.withLock({ state -> [TopicSubscriber]? in
        let members = state.topics[topic]?.list
        var buffers = state.recovering.isEmpty ? nil : state.recovering[topic]
        if let offset = published.offset, members != nil || buffers != nil { state.liveLatest[topic] = offset }
        if buffers != nil {
          for key in buffers!.keys { buffers![key]!.add(published) }
          state.recovering[topic] = buffers
        }
        return members
      })
    else { return }
    var dropped = 0
    var overflowed: [(TopicSubscriber, CloseReason)] = []
    for subscriber in members where ObjectIdentifier(subscriber.connection) != excluded {
      switch subscriber.offer(published) {
      case .queued(let wake):
        if wake { subscriber.drainQueue.schedule(subscriber) }
      case .dropped(let count, let wake):
        dropped += count
        if wake { subscriber.drainQueue.schedule(subscriber) }
      case .close(let reason):
        overflowed.append((subscriber, reason))
      case .gone:
        break
      }
    }
    counters.offered.add(members.count, ordering: .relaxed)
    if dropped > 0 { counters.dropped.add(dropped, ordering: .relaxed) }
    if !overflowed.isEmpty { counters.closedSlowSubscribers.add(overflowed.count, ordering: .relaxed) }
    for (subscriber, reason) in overflowed {
      let connection = subscriber.connection
      unsubscribeAll(connection)
      Task(executorPreference: connection.transport.taskExecutor) { try? await connection.close(reason) }
    }
  }

  // MARK: State

  /// Counters since the hub was made.
  public var statistics: TopicsStatistics { counters.snapshot() }

  /// The bytes queued for `session` and the messages dropped for it by its policy; `nil` when it is not subscribed.
  public func queueStatistics(of session: some WebSocketSession) -> (queuedBytes: Int, dropped: Int)? {
    let subscriber = state.withLock { $0.subscribers[ObjectIdentifier(session.connection)]?.subscriber }
    return subscriber?.statistics
  }

  /// Shuts the backend down and finishes ``events``; subscriptions stay (this process's fan-out goes on).
  public func shutdown() async {
    await backend?.shutdown()
    eventSink.finish()
  }
}

/// What a ``Topics`` hub has done since it was made.
public struct TopicsStatistics: Sendable, Hashable {
  /// Messages published here or delivered by the backend.
  public var published = 0
  /// Message copies offered to subscribers' queues.
  public var offered = 0
  /// Message copies dropped by ``SlowSubscriberPolicy/dropNewest`` or ``SlowSubscriberPolicy/dropOldest``.
  public var dropped = 0
  /// Sessions closed by ``SlowSubscriberPolicy/close(_:)``.
  public var closedSlowSubscribers = 0
  /// Message copies still queued for a subscriber when it ended or was unsubscribed (a closing session takes no
  /// more messages: its close frame is the last thing it sends), or that overflowed a closing policy.
  public var discarded = 0
  /// Compressions made for subscribers that share them (permessage-deflate without context takeover): at most one
  /// per message and set of compressor parameters, however many subscribers.
  public var compressed = 0

  /// All zero.
  public init() {}
}

/// The counters behind ``TopicsStatistics``, shared with the subscribers.
final class FanoutCounters: Sendable {
  let published = Atomic<Int>(0)
  let offered = Atomic<Int>(0)
  let dropped = Atomic<Int>(0)
  let closedSlowSubscribers = Atomic<Int>(0)
  let discarded = Atomic<Int>(0)
  let compressed = Atomic<Int>(0)

  func snapshot() -> TopicsStatistics {
    var statistics = TopicsStatistics()
    statistics.published = published.load(ordering: .relaxed)
    statistics.offered = offered.load(ordering: .relaxed)
    statistics.dropped = dropped.load(ordering: .relaxed)
    statistics.closedSlowSubscribers = closedSlowSubscribers.load(ordering: .relaxed)
    statistics.discarded = discarded.load(ordering: .relaxed)
    statistics.compressed = compressed.load(ordering: .relaxed)
    return statistics
  }
}
