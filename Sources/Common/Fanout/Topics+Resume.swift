import Synchronization

// Resuming: a subscriber that was away gets what the topic's history holds after its last offset, then the live
// messages, with no gap and no duplicate at the seam (or is told what it can never get).
extension Topics {
  /// How many history messages a resume reads at a time.
  static let resumePageSize = 256

  /// Subscribes `session` to `topic` from `offset`: first every message the history holds after `offset`, then
  /// the live ones, with no gap and no duplicate at the seam. When the history no longer reaches back (trimmed by
  /// its bounds) or was lost (another epoch), the result says exactly what is missing (``TopicRecovery/gap(_:recovered:)``),
  /// and a subscriber in ``TopicFraming/offsetPrefixed`` framing also gets the notice in-band, in its place.
  ///
  /// History messages are handed over as the subscriber's queue makes room (never dropped by its policy); live
  /// messages wait meanwhile in a buffer of the queue's size (read again from the history if they outgrow it). The
  /// resume is bounded by `timeout`; past it, or when the history cannot be read, the subscriber is live from then
  /// on and the result is ``TopicRecovery/unavailable(_:)``.
  ///
  /// - Parameters:
  ///   - session: the session that subscribes (it leaves every topic when it ends).
  ///   - topic: the topic's name.
  ///   - offset: the last message the subscriber had; `nil`: live only, as `subscribe(_:to:options:)`.
  ///   - options: as for `subscribe(_:to:options:)`; a resuming client usually wants
  ///     ``TopicFraming/offsetPrefixed`` framing, so that it knows its offsets for the next time.
  ///   - timeout: the longest the catching-up may take. Default 30 s.
  public func subscribe(
    _ session: some WebSocketSession, to topic: String, from offset: TopicOffset?, options: SubscriberOptions? = nil,
    timeout: Duration = .seconds(30)
  ) async -> TopicRecovery {
    await subscribe(session.connection, to: topic, from: offset, options: options, timeout: timeout)
  }

  /// `subscribe(_:to:from:options:timeout:)` for a connection.
  public func subscribe(
    _ connection: WebSocketConnection, to topic: String, from offset: TopicOffset?,
    options: SubscriberOptions? = nil, timeout: Duration = .seconds(30)
  ) async -> TopicRecovery {
    guard let offset, memoryHistory != nil || historyBackend != nil else {
      await register(connection, to: topic, options: options, recovering: false)
      return offset == nil ? .recovered(0) : .unavailable(.unavailable("this hub keeps no history"))
    }
    guard let subscriber = await register(connection, to: topic, options: options, recovering: true) else {
      return .recovered(0)
    }
    var run = ResumeRun(topic: topic, cursor: offset, deadline: .now + timeout)
    do {
      let live = try await liveOffset(of: topic)
      while true {
        if ContinuousClock.now > run.deadline { throw PubSubError.timedOut(operation: "resume", limit: timeout) }
        let page = try await readHistory(of: topic, after: run.cursor.position)
        switch await deliver(page, to: subscriber, in: &run) {
        case .gone: return .recovered(run.recovered)
        case .readAgain: continue
        case .delivered: break
        }
        guard page.entries.isEmpty || run.cursor.position >= page.latest else { continue }
        await waitForRoom(in: subscriber, for: 0, until: run.deadline)
        switch goLive(subscriber, topic: topic, after: run.cursor, liveStart: live, force: false) {
        case .live(let buffered):
          run.recovered += buffered
          return run.gap.map { .gap($0, recovered: run.recovered) } ?? .recovered(run.recovered)
        case .gone: return .recovered(run.recovered)
        case .readMore: continue
        case .waitForLive:
          // The history is ahead of the live feed (Redis answered the read before pub/sub delivered the same
          // messages): going live now would deliver those again, out of order.
          try await Task.sleep(for: .milliseconds(2))
          continue
        }
      }
    } catch {
      _ = goLive(subscriber, topic: topic, after: run.cursor, liveStart: nil, force: true)
      return .unavailable(error as? PubSubError ?? .unavailable("\(error)"))
    }
  }

  /// Where one resume stands.
  struct ResumeRun {
    let topic: String
    /// The last message delivered (or the offset the subscriber came with).
    var cursor: TopicOffset
    let deadline: ContinuousClock.Instant
    var recovered = 0
    /// The first gap found.
    var gap: TopicGap?
  }

  private enum PageOutcome {
    case delivered
    /// The page belongs to another epoch: read the new one from its start.
    case readAgain
    case gone
  }

  /// Hands a page of history to `subscriber` as its queue makes room, reporting a gap first when the page does not
  /// follow the cursor.
  private func deliver(_ page: TopicHistoryPage, to subscriber: TopicSubscriber, in run: inout ResumeRun) async
    -> PageOutcome
  {
    var resumesAt: TopicOffset?
    if page.epoch != run.cursor.epoch {
      resumesAt = TopicOffset(epoch: page.epoch, position: page.oldest)
    } else if page.oldest > run.cursor.position + 1 || run.cursor.position > page.latest {
      // Trimmed past the cursor; or an offset from the future of this epoch (not one this history gave).
      resumesAt = TopicOffset(epoch: page.epoch, position: min(page.oldest, page.latest + 1))
    }
    if let resumesAt {
      let gap = TopicGap(topic: run.topic, lastSeen: run.cursor, resumesAt: resumesAt)
      if run.gap == nil { run.gap = gap }
      run.cursor = TopicOffset(epoch: resumesAt.epoch, position: resumesAt.position - 1)
      if subscriber.framing == .offsetPrefixed {
        guard offerInOrder(PublishedMessage(TopicFraming.notice(of: gap), counters: counters), to: subscriber) else {
          return .gone
        }
      }
      if gap.epochChanged { return .readAgain }
    }
    for entry in page.entries where entry.position > run.cursor.position {
      let published = PublishedMessage(
        entry.message, offset: TopicOffset(epoch: page.epoch, position: entry.position), counters: counters)
      await waitForRoom(in: subscriber, for: published.cost, until: run.deadline)
      guard offerInOrder(published, to: subscriber) else { return .gone }
      run.cursor.position = entry.position
      run.recovered += 1
    }
    return .delivered
  }

  /// Offers a message of the resume; `false` when the subscriber has gone.
  private func offerInOrder(_ published: PublishedMessage, to subscriber: TopicSubscriber) -> Bool {
    switch subscriber.offer(published) {
    case .queued(let wake), .dropped(_, let wake):
      if wake { subscriber.drainQueue.schedule(subscriber) }
      return true
    case .close(let reason):
      let connection = subscriber.connection
      unsubscribeAll(connection)
      Task(executorPreference: connection.transport.taskExecutor) { try? await connection.close(reason) }
      return false
    case .gone:
      return false
    }
  }

  /// Waits (bounded by `deadline`) until `cost` more bytes fit in the subscriber's queue, so that the history is
  /// never dropped by the subscriber's policy.
  private func waitForRoom(in subscriber: TopicSubscriber, for cost: Int, until deadline: ContinuousClock.Instant)
    async
  {
    while ContinuousClock.now < deadline {
      let queued = subscriber.statistics.queuedBytes
      if queued == 0 || queued + cost <= subscriber.options.queueLimit / 2 { return }
      if (try? await Task.sleep(for: .milliseconds(1))) == nil { return }
    }
  }

  private enum GoLive {
    case live(buffered: Int)
    case readMore
    /// The live path has not reached the cursor yet.
    case waitForLive
    case gone
  }

  /// Moves a resuming subscriber to the topic's live members and hands it the buffered live messages after
  /// `cursor`; `readMore` when the buffer does not join the cursor (it overflowed, or the epoch changed) and the
  /// history must be read again first (`force`: go live anyway).
  private func goLive(
    _ subscriber: TopicSubscriber, topic: String, after cursor: TopicOffset, liveStart: TopicOffset?, force: Bool
  ) -> GoLive {
    let connectionID = ObjectIdentifier(subscriber.connection)
    return state.withLock { state -> GoLive in
      guard var buffer = state.recovering[topic]?[connectionID] else { return .gone }
      if !force {
        if buffer.overflowed {
          buffer = RecoveryBuffer(limit: buffer.limit)
          state.recovering[topic]?[connectionID] = buffer
          return .readMore
        }
        let next = buffer.messages.first { ($0.offset?.epoch != cursor.epoch) || $0.offset!.position > cursor.position }
        if let next, let offset = next.offset, offset.epoch != cursor.epoch || offset.position > cursor.position + 1 {
          return .readMore
        }
        // Every message up to the cursor must have passed the live path (or precede its start): later live
        // messages then all follow the cursor.
        let reached = [state.liveLatest[topic], liveStart].compactMap { $0 }.filter { $0.epoch == cursor.epoch }
        if let latest = reached.map(\.position).max(), latest < cursor.position { return .waitForLive }
      }
      state.recovering[topic]?[connectionID] = nil
      if state.recovering[topic]?.isEmpty == true { state.recovering[topic] = nil }
      _ = state.topics[topic, default: Members()].insert(subscriber)
      var handed = 0
      for published in buffer.messages {
        if let offset = published.offset, offset.epoch == cursor.epoch, offset.position <= cursor.position { continue }
        guard offerInOrder(published, to: subscriber) else { break }
        handed += 1
      }
      return .live(buffered: handed)
    }
  }

  /// The history's offset where live delivery starts (the backend's, or this process's).
  private func liveOffset(of topic: String) async throws(PubSubError) -> TopicOffset {
    if let historyBackend { return try await historyBackend.liveOffset(of: topic) }
    return memoryHistory!.withLock { $0.latest(of: topic) }
  }

  private func readHistory(of topic: String, after position: UInt64) async throws(PubSubError) -> TopicHistoryPage {
    if let historyBackend {
      return try await historyBackend.readHistory(of: topic, after: position, limit: Self.resumePageSize)
    }
    return memoryHistory!.withLock { $0.read(topic, after: position, limit: Self.resumePageSize) }
  }
}
