import Synchronization
import WispCommon

/// A `PubSubBackend` on Redis pub/sub (RESP2 over the library's own sockets): the `Topics` of several server
/// processes, on one machine or many, share topics through one Redis.
///
/// ```swift
/// let topics = Topics(backend: RedisPubSub(try RedisConfiguration(url: "redis://127.0.0.1:6379")))
/// ```
///
/// Two connections: one in subscribe mode (SUBSCRIBE per topic with local subscribers, each message delivered to
/// the hub), one that PUBLISHes in the order of ``publish(_:to:)`` calls (per-publisher order) and counts the
/// replies. Each message travels in a `PubSubEnvelope` with this hub's identifier and a sequence number: a hub
/// skips its own messages (its subscribers had them at once) and reports gaps.
///
/// When Redis goes away, messages published meanwhile are buffered up to
/// ``RedisConfiguration/outgoingBufferLimit`` and sent after the reconnection; beyond it ``publish(_:to:)`` throws
/// `PubSubError/bufferFull(limit:)`. The backend reconnects with backoff, subscribes again, and reports
/// `PubSubEvent/disconnected(_:)`, then `PubSubEvent/reconnected(window:unconfirmedOutgoing:)` with the window
/// in which other processes' messages may have been lost. A Redis that answers garbage, stalls or closes costs a
/// reconnection, never a crash or a wait on the WebSocket side: every wait has ``RedisConfiguration``'s bounds.
public final class RedisPubSub: PubSubBackend, Sendable {
  /// The settings.
  public let configuration: RedisConfiguration
  /// This hub's identifier in envelopes (16 random bytes).
  public let publisherID: [UInt8]
  private let loop: EventLoop

  private struct State {
    weak var sink: (any PubSubSink)?
    var topics: Set<String> = []
    /// PUBLISH commands not yet handed to a connection, and how many messages they hold.
    var pending: [UInt8] = []
    var pendingMessages = 0
    var sequence: UInt64 = 0
    var publisher: RedisLink?
    var subscriber: RedisLink?
    /// PUBLISH (and PING) replies still due on the publishing connection, and since when the oldest waits.
    var outstanding = OutstandingReplies()
    var shutDown = false
    var supervisor: Task<Void, Never>?
  }
  private let state = Mutex(State())
  private let sequences = Mutex(PublisherSequences())

  /// A backend for `configuration`, served by one loop of `group`. It connects when a `Topics` attaches it.
  public init(_ configuration: RedisConfiguration, group: EventLoopGroup = .shared) {
    self.configuration = configuration
    self.loop = group.next()
    let random = SystemSecureRandom()
    var id = [UInt8](repeating: 0, count: 16)
    id.withUnsafeMutableBytes { random.fill($0) }
    self.publisherID = id
  }

  /// The publisher identifier as hex, as events name publishers.
  public var publisherName: String { TopicOffset.hex(publisherID) }

  // MARK: PubSubBackend

  /// Starts connecting (in the background; failures are reported as events and retried).
  public func attach(_ sink: any PubSubSink) {
    state.withLock { state in
      state.sink = sink
      guard state.supervisor == nil, !state.shutDown else { return }
      state.supervisor = Task(executorPreference: loop) { await self.supervise() }
    }
  }

  /// SUBSCRIBEs now when connected, and after every reconnection.
  public func subscribe(_ topic: String) {
    let link = state.withLock { state -> RedisLink? in
      state.topics.insert(topic)
      return state.subscriber
    }
    var command: [UInt8] = []
    RESPValue.command([Array("SUBSCRIBE".utf8), channel(topic)], into: &command)
    link?.enqueue(command)
  }

  /// UNSUBSCRIBEs when connected.
  public func unsubscribe(_ topic: String) {
    let link = state.withLock { state -> RedisLink? in
      state.topics.remove(topic)
      return state.subscriber
    }
    var command: [UInt8] = []
    RESPValue.command([Array("UNSUBSCRIBE".utf8), channel(topic)], into: &command)
    link?.enqueue(command)
  }

  /// Queues a PUBLISH; written at once when connected, after the reconnection otherwise.
  ///
  /// - Throws: `PubSubError/bufferFull(limit:)` when the unwritten messages would exceed
  ///   ``RedisConfiguration/outgoingBufferLimit``; `PubSubError/shutDown` after ``shutdown()``.
  public func publish(_ message: TopicMessage, to topic: String) throws(PubSubError) {
    let channel = channel(topic)
    let outcome = state.withLock { state -> Result<(RedisLink, [UInt8])?, PubSubError> in
      if state.shutDown { return .failure(.shutDown) }
      state.sequence += 1
      let envelope = PubSubEnvelope(publisher: publisherID, sequence: state.sequence, message: message)
      var command: [UInt8] = []
      RESPValue.command([Array("PUBLISH".utf8), channel, envelope.encoded()], into: &command)
      if let link = state.publisher, state.pending.isEmpty {
        state.outstanding.add(1, isMessage: true)
        return .success((link, command))
      }
      guard state.pending.count + command.count <= configuration.outgoingBufferLimit else {
        // The sequence number is spent: receivers will see the gap and report it.
        return .failure(.bufferFull(limit: configuration.outgoingBufferLimit))
      }
      state.pending.append(contentsOf: command)
      state.pendingMessages += 1
      return .success(nil)
    }
    switch outcome {
    case .failure(let error): throw error
    case .success(let direct?): direct.0.enqueue(direct.1)
    case .success(nil): break
    }
  }

  /// Stops reconnecting and closes the connections (bounded by their close).
  public func shutdown() async {
    let (supervisor, links) = state.withLock { state in
      state.shutDown = true
      return (state.supervisor, [state.publisher, state.subscriber].compactMap { $0 })
    }
    supervisor?.cancel()
    for link in links { await link.close() }
    await supervisor?.value
  }

  // MARK: The connection's life

  private func supervise() async {
    var failures = 0
    var lostSince: ContinuousClock.Instant?
    var unconfirmed = 0
    var generator = SystemRandomNumberGenerator()
    // One event per loss, not one per failed attempt to reconnect.
    var reportedDown = false
    while !Task.isCancelled, !state.withLock({ $0.shutDown }) {
      do {
        let (publisher, subscriber) = try await connect()
        failures = 0
        reportedDown = false
        let event: PubSubEvent =
          lostSince.map { .reconnected(window: ContinuousClock.now - $0, unconfirmedOutgoing: unconfirmed) }
          ?? .connected
        report(event)
        let error = await serve(publisher: publisher, subscriber: subscriber)
        lostSince = ContinuousClock.now
        unconfirmed = state.withLock { $0.outstanding.reset() }
        if state.withLock({ $0.shutDown }) { return }
        report(.disconnected(error))
        reportedDown = true
      } catch {
        if lostSince == nil { lostSince = ContinuousClock.now }
        if !reportedDown { report(.disconnected(PubSubError(redisFailure: error))) }
        reportedDown = true
      }
      failures += 1
      let delay = configuration.reconnect.delay(afterFailures: failures, using: &generator)
      try? await Task.sleep(for: delay)
    }
  }

  /// Connects both links and authenticates.
  private func connect() async throws -> (RedisLink, RedisLink) {
    let (publisher, _) = try await RedisLink.open(configuration, on: loop)
    do {
      let (subscriber, _) = try await RedisLink.open(configuration, on: loop)
      return (publisher, subscriber)
    } catch {
      await publisher.close()
      throw error
    }
  }

  /// Runs the links until one fails; returns why.
  private func serve(publisher: RedisLink, subscriber: RedisLink) async -> PubSubError {
    let failure = Mutex<PubSubError?>(nil)
    let links = [publisher, subscriber]
    // The first failure closes both links, which ends every other task of the group.
    let fail: @Sendable (any Error) async -> Void = { error in
      let first = failure.withLock { failure -> Bool in
        guard failure == nil else { return false }
        failure = PubSubError(redisFailure: error)
        return true
      }
      if first { for link in links { await link.close() } }
    }
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        do { try await publisher.runWriter() } catch { await fail(error) }
      }
      group.addTask {
        do { try await subscriber.runWriter() } catch { await fail(error) }
      }
      group.addTask {
        do {
          try await publisher.runReader(limits: self.configuration.parserLimits) { value throws(PubSubError) in
            try self.handlePublisherReply(value)
          }
        } catch { await fail(error) }
      }
      group.addTask {
        do {
          try await subscriber.runReader(limits: self.configuration.parserLimits) { value throws(PubSubError) in
            try self.handleSubscriberPush(value)
          }
        } catch { await fail(error) }
      }
      // Resubscribe, then hand over the publishing link (buffered messages first, in order); in one step, so that
      // a topic subscribed meanwhile goes either into this SUBSCRIBE or straight to the link.
      let topics = state.withLock { state -> Set<String> in
        state.subscriber = subscriber
        state.publisher = publisher
        if !state.pending.isEmpty {
          publisher.enqueue(state.pending)
          state.outstanding.add(state.pendingMessages, isMessage: true)
          state.pending = []
          state.pendingMessages = 0
        }
        return state.topics
      }
      for chunk in Array(topics).chunked(512) {
        var command: [UInt8] = []
        RESPValue.command([Array("SUBSCRIBE".utf8)] + chunk.map(channel), into: &command)
        subscriber.enqueue(command)
      }
      group.addTask {
        let error = await self.watchHealth(publisher: publisher, subscriber: subscriber)
        await fail(error)
      }
      await group.waitForAll()
    }
    state.withLock { state in
      if state.publisher === publisher { state.publisher = nil }
      if state.subscriber === subscriber { state.subscriber = nil }
    }
    return failure.withLock { $0 } ?? .unavailable("connection closed")
  }

  /// Pings both links every interval; fails when Redis stays silent or a reply is overdue.
  private func watchHealth(publisher: RedisLink, subscriber: RedisLink) async -> PubSubError {
    var ping: [UInt8] = []
    RESPValue.command("PING", into: &ping)
    while true {
      do { try await Task.sleep(for: configuration.healthCheckInterval) } catch { return .shutDown }
      if state.withLock({ $0.shutDown }) { return .shutDown }
      let overdue = state.withLock { state -> Bool in
        guard let since = state.outstanding.oldestSince else { return false }
        return ContinuousClock.now - since > configuration.replyTimeout
      }
      if overdue || subscriber.silence > configuration.healthCheckInterval + configuration.replyTimeout {
        return .timedOut(operation: "Redis reply", limit: configuration.replyTimeout)
      }
      subscriber.enqueue(ping)
      state.withLock { $0.outstanding.add(1, isMessage: false) }
      publisher.enqueue(ping)
    }
  }

  private func handlePublisherReply(_ value: RESPValue) throws(PubSubError) {
    switch value {
    case .integer, .simpleString:
      state.withLock { $0.outstanding.received() }
    case .error(let message):
      throw .refused(message)
    default:
      throw .protocolViolation("unexpected reply to PUBLISH: \(value)")
    }
  }

  private func handleSubscriberPush(_ value: RESPValue) throws(PubSubError) {
    guard case .array(let items?) = value, let kind = items.first?.string else {
      if case .error(let message) = value { throw .refused(message) }
      // A PING before the first SUBSCRIBE is answered outside subscribe mode.
      if case .simpleString("PONG") = value { return }
      throw .protocolViolation("unexpected push on the subscribing connection: \(value)")
    }
    switch kind {
    case "message":
      guard items.count == 3, let channel = items[1].bytes, let payload = items[2].bytes else {
        throw .protocolViolation("malformed message push")
      }
      deliver(channel: channel, payload: payload)
    case "subscribe", "unsubscribe", "pong":
      break
    default:
      throw .protocolViolation("unexpected push \(kind)")
    }
  }

  private func deliver(channel: [UInt8], payload: [UInt8]) {
    let prefix = Array(configuration.channelPrefix.utf8)
    guard channel.starts(with: prefix), let envelope = PubSubEnvelope(decoding: payload) else { return }
    guard envelope.publisher != publisherID else { return }
    let verdict = sequences.withLock { $0.record(envelope.sequence, from: envelope.publisher) }
    switch verdict {
    case .repeated: return
    case .gap(let missed): report(.messagesMissed(publisher: TopicOffset.hex(envelope.publisher), count: Int(missed)))
    case .inOrder: break
    }
    let topic = String(decoding: channel[prefix.count...], as: UTF8.self)
    state.withLock { $0.sink }?.deliver(envelope.message, to: topic)
  }

  private func report(_ event: PubSubEvent) {
    state.withLock { $0.sink }?.backendEvent(event)
  }

  private func channel(_ topic: String) -> [UInt8] {
    Array(configuration.channelPrefix.utf8) + Array(topic.utf8)
  }
}

extension PubSubError {
  /// The `PubSubError` of a Redis link's failure.
  init(redisFailure error: any Error) {
    switch error {
    case let error as PubSubError: self = error
    case let error as RESPProtocolError: self = .protocolViolation(error.description)
    case let error as TransportError:
      if case .timedOut(let operation, let limit) = error {
        self = .timedOut(operation: operation, limit: limit)
      } else {
        self = .unavailable("\(error)")
      }
    default: self = .unavailable("\(error)")
    }
  }
}

extension Array {
  fileprivate func chunked(_ size: Int) -> [ArraySlice<Element>] {
    stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
  }
}
