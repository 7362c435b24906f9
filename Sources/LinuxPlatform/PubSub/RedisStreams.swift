import Synchronization
import WispCommon

/// A `TopicHistoryBackend` on Redis Streams: every topic's messages are appended to a stream (bounded by the
/// ``history`` policy: `MAXLEN ~` and an age trim) with a contiguous position and an epoch, and reach every hub,
/// this one included, in the topic's order. A process that lost Redis for a while, or whose live feed missed
/// messages, reads what it missed from the stream before the next message; a subscriber that comes back with its
/// last offset resumes (`Topics.subscribe(_:to:from:options:timeout:)`), on this process or any other.
///
/// ```swift
/// let backend = RedisStreams(try RedisConfiguration(url: "redis://127.0.0.1:6379"),
///                            history: TopicHistoryPolicy(TopicHistoryOptions(maxCount: 10_000)))
/// let topics = Topics(backend: backend)
/// ```
///
/// Two connections, on one event loop: commands (a Lua script per append: trims, publishes and answers the
/// offset; history reads) pipelined in order, and a subscribing one (`SSUBSCRIBE`, sharded pub/sub: the live feed).
/// Live messages only say that something new is there; the stream is the truth: a message that does not follow
/// the last one delivered makes the backend read the stream first (`TopicFeed`).
///
/// Appends are idempotent: each carries this hub's identifier and sequence number, and the script skips one it has
/// seen, so messages written before a lost connection are sent again after it without duplicates. Until Redis
/// confirms them they are kept (within ``RedisConfiguration/outgoingBufferLimit``; beyond it `publish` throws
/// `PubSubError/bufferFull(limit:)`). How much survives a Redis crash is Redis's persistence (`appendonly yes`
/// and `appendfsync always` keep every confirmed append).
public final class RedisStreams: TopicHistoryBackend, Sendable {
  /// The connection settings and bounds (``RedisConfiguration/channelPrefix`` prefixes the keys).
  public let configuration: RedisConfiguration
  /// What each topic keeps (``TopicHistoryOptions/maxCount`` and ``TopicHistoryOptions/maxAge``; `maxBytes` is
  /// Redis's own `maxmemory`); a topic without options keeps nothing but still numbers its messages.
  public let history: TopicHistoryPolicy
  /// This hub's identifier (16 hex digits) in appends.
  public let publisherName: String
  private let loop: EventLoop
  private let epochPrefix: String

  private struct PendingAppend {
    var sequence: UInt64
    var command: [UInt8]
    var confirmed: (@Sendable (Result<TopicOffset?, PubSubError>) -> Void)?
  }

  private enum Reply {
    case append
    case feedRead(topic: String)
    case historyRead(CheckedContinuation<Result<TopicHistoryPage, PubSubError>, Never>)
    case ping
  }

  private struct State {
    weak var sink: (any PubSubSink)?
    var feeds: [String: TopicFeed] = [:]
    var command: RedisLink?
    var subscriber: RedisLink?
    /// The command link's replies due, in order, and since when the oldest waits.
    var replies: [Reply] = []
    var repliesHead = 0
    var oldestReplySince: ContinuousClock.Instant?
    /// Appends not yet confirmed, in order; the first `sentAppends` are written on the current link.
    var appends: [PendingAppend] = []
    var appendsHead = 0
    var appendBytes = 0
    var sequence: UInt64 = 0
    var epochCounter: UInt64 = 0
    /// The hub's token of each own append that has one, by sequence number.
    var tokens: [UInt64: UInt64] = [:]
    var liveWaiters: [String: [UInt64: CheckedContinuation<Result<TopicOffset, PubSubError>, Never>]] = [:]
    var nextWaiter: UInt64 = 0
    var shutDown = false
    var supervisor: Task<Void, Never>?
  }
  private let state = Mutex(State())

  /// A backend for `configuration` keeping `history`, served by one loop of `group`. It connects when a `Topics`
  /// attaches it.
  public init(
    _ configuration: RedisConfiguration, history: TopicHistoryPolicy = TopicHistoryPolicy(),
    group: EventLoopGroup = .shared
  ) {
    self.configuration = configuration
    self.history = history
    self.loop = group.next()
    let random = SystemSecureRandom()
    publisherName = TopicOffset.randomEpoch(random)
    epochPrefix = TopicOffset.randomEpoch(random)
  }

  // MARK: PubSubBackend

  /// Starts connecting (in the background; failures are reported as events and retried).
  public func attach(_ sink: any PubSubSink) {
    state.withLock { state in
      state.sink = sink
      guard state.supervisor == nil, !state.shutDown else { return }
      state.supervisor = Task(executorPreference: loop) { await self.supervise() }
    }
  }

  /// Starts the topic's live feed: `SSUBSCRIBE`, then where the history stands.
  public func subscribe(_ topic: String) {
    let link = state.withLock { state -> RedisLink? in
      guard state.feeds[topic] == nil else { return nil }
      state.feeds[topic] = TopicFeed(topic: topic, bufferLimit: configuration.outgoingBufferLimit)
      return state.subscriber
    }
    link?.enqueue(Self.command("SSUBSCRIBE", names(topic).channel))
  }

  /// Stops the topic's live feed.
  public func unsubscribe(_ topic: String) {
    let (link, waiters) = state.withLock { state -> (RedisLink?, [CheckedContinuation<Result<TopicOffset, PubSubError>, Never>]) in
      state.feeds[topic] = nil
      return (state.subscriber, Array((state.liveWaiters.removeValue(forKey: topic) ?? [:]).values))
    }
    for waiter in waiters { waiter.resume(returning: .failure(.unavailable("unsubscribed from \(topic)"))) }
    link?.enqueue(Self.command("SUNSUBSCRIBE", names(topic).channel))
  }

  /// Appends `message` (see ``append(_:to:token:confirmed:)``).
  public func publish(_ message: TopicMessage, to topic: String) throws(PubSubError) {
    try append(message, to: topic, token: nil, confirmed: nil)
  }

  /// Appends `message` to the topic's stream: written at once when connected, after the reconnection otherwise,
  /// and kept until Redis confirms it.
  ///
  /// - Throws: `PubSubError/bufferFull(limit:)` when unconfirmed appends would exceed
  ///   ``RedisConfiguration/outgoingBufferLimit``; `PubSubError/shutDown` after ``shutdown()``.
  public func append(
    _ message: TopicMessage, to topic: String, token: UInt64?,
    confirmed: (@Sendable (Result<TopicOffset?, PubSubError>) -> Void)?
  ) throws(PubSubError) {
    let options = history.options(topic)
    let names = names(topic)
    let write = try state.withLock { state throws(PubSubError) -> (RedisLink, [UInt8])? in
      if state.shutDown { throw .shutDown }
      let sequence = state.sequence + 1
      let command = Self.evalCommand(
        RedisStreamsScripts.append, keys: [names.stream, names.meta, names.channel],
        arguments: [
          Array(newEpoch(&state).utf8), Array(publisherName.utf8), Array("\(sequence)".utf8),
          message.type == .text ? [49] : [50], message.payload, Array("\(options?.maxCount ?? 0)".utf8),
          Array("\(options?.maxAge.map(Self.milliseconds) ?? 0)".utf8),
        ])
      guard state.appendBytes + command.count <= configuration.outgoingBufferLimit else {
        throw .bufferFull(limit: configuration.outgoingBufferLimit)
      }
      state.sequence = sequence
      if let token {
        if state.tokens.count >= 65_536 { state.tokens.removeAll() }
        state.tokens[sequence] = token
      }
      state.appends.append(PendingAppend(sequence: sequence, command: command, confirmed: confirmed))
      state.appendBytes += command.count
      guard let link = state.command else { return nil }
      expect(.append, in: &state)
      return (link, command)
    }
    if let (link, command) = write { link.enqueue(command) }
  }

  /// Stops reconnecting and closes the connections (bounded by their close); unconfirmed appends fail with
  /// `PubSubError/shutDown`.
  public func shutdown() async {
    let (supervisor, links, appends, waiters) = state.withLock { state in
      state.shutDown = true
      let appends = state.appends[state.appendsHead...].compactMap(\.confirmed)
      state.appends = []
      state.appendsHead = 0
      let waiters = state.liveWaiters.values.flatMap(\.values)
      state.liveWaiters = [:]
      return (state.supervisor, [state.command, state.subscriber].compactMap { $0 }, appends, waiters)
    }
    for confirmed in appends { confirmed(.failure(.shutDown)) }
    for waiter in waiters { waiter.resume(returning: .failure(.shutDown)) }
    supervisor?.cancel()
    for link in links { await link.close() }
    await supervisor?.value
  }

  // MARK: TopicHistoryBackend

  /// Waits until the topic's live feed is live (bounded by the connect and reply timeouts); returns the offset of
  /// the last message delivered before it.
  public func liveOffset(of topic: String) async throws(PubSubError) -> TopicOffset {
    let limit = configuration.connectTimeout + configuration.replyTimeout * 2
    let id = state.withLock { state -> UInt64 in
      state.nextWaiter += 1
      return state.nextWaiter
    }
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<TopicOffset, PubSubError>, Never>) in
      let now = state.withLock { state -> Result<TopicOffset, PubSubError>? in
        if state.shutDown { return .failure(.shutDown) }
        guard let feed = state.feeds[topic] else { return .failure(.unavailable("not subscribed to \(topic)")) }
        if feed.isLive, let offset = feed.offset { return .success(offset) }
        state.liveWaiters[topic, default: [:]][id] = continuation
        return nil
      }
      if let now {
        continuation.resume(returning: now)
        return
      }
      Task(executorPreference: loop) {
        try? await Task.sleep(for: limit)
        let waiter = self.state.withLock { $0.liveWaiters[topic]?.removeValue(forKey: id) }
        waiter?.resume(returning: .failure(.timedOut(operation: "live feed of \(topic)", limit: limit)))
      }
    }
    return try result.get()
  }

  /// Reads up to `limit` messages of `topic` after `position` from its stream.
  public func readHistory(of topic: String, after position: UInt64, limit: Int) async throws(PubSubError)
    -> TopicHistoryPage
  {
    let command = readCommand(topic, after: position, limit: max(1, min(limit, pageSize)))
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<TopicHistoryPage, PubSubError>, Never>) in
      let link = state.withLock { state -> RedisLink? in
        guard let link = state.command, !state.shutDown else { return nil }
        expect(.historyRead(continuation), in: &state)
        return link
      }
      guard let link else {
        continuation.resume(returning: .failure(.unavailable("not connected to Redis")))
        return
      }
      link.enqueue(command)
    }
    return try result.get()
  }

  // MARK: The connections' life

  private func supervise() async {
    var failures = 0
    var lostSince: ContinuousClock.Instant?
    var generator = SystemRandomNumberGenerator()
    var reportedDown = false
    while !Task.isCancelled, !state.withLock({ $0.shutDown }) {
      do {
        // One extra command per reply expected: the handshake counts them.
        let load = [
          Self.command("SCRIPT", "LOAD", RedisStreamsScripts.append), Self.command("SCRIPT", "LOAD", RedisStreamsScripts.read),
        ]
        let (command, shas) = try await RedisLink.open(configuration, on: loop, then: load)
        guard shas.map(\.string) == [Self.appendSHA, Self.readSHA] else {
          await command.close()
          throw PubSubError.protocolViolation("SCRIPT LOAD answered \(shas), not the scripts' SHA-1")
        }
        let subscriber: RedisLink
        do {
          (subscriber, _) = try await RedisLink.open(configuration, on: loop)
        } catch {
          await command.close()
          throw error
        }
        failures = 0
        reportedDown = false
        report(lostSince.map { .reconnected(window: ContinuousClock.now - $0, unconfirmedOutgoing: 0) } ?? .connected)
        let error = await serve(command: command, subscriber: subscriber)
        lostSince = ContinuousClock.now
        if state.withLock({ $0.shutDown }) { return }
        report(.disconnected(error))
        reportedDown = true
      } catch {
        if lostSince == nil { lostSince = ContinuousClock.now }
        if !reportedDown { report(.disconnected(PubSubError(redisFailure: error))) }
        reportedDown = true
      }
      failures += 1
      try? await Task.sleep(for: configuration.reconnect.delay(afterFailures: failures, using: &generator))
    }
  }

  /// Runs both links until one fails; returns why.
  private func serve(command: RedisLink, subscriber: RedisLink) async -> PubSubError {
    let failure = Mutex<PubSubError?>(nil)
    let links = [command, subscriber]
    let fail: @Sendable (any Error) async -> Void = { error in
      let first = failure.withLock { failure -> Bool in
        guard failure == nil else { return false }
        failure = PubSubError(redisFailure: error)
        return true
      }
      if first { for link in links { await link.close() } }
    }
    await withTaskGroup(of: Void.self) { group in
      for link in links {
        group.addTask {
          do { try await link.runWriter() } catch { await fail(error) }
        }
      }
      group.addTask {
        do {
          try await command.runReader(limits: self.configuration.parserLimits) { value throws(PubSubError) in
            try self.handleCommandReply(value)
          }
        } catch { await fail(error) }
      }
      group.addTask {
        do {
          try await subscriber.runReader(limits: self.configuration.parserLimits) { value throws(PubSubError) in
            try self.handlePush(value)
          }
        } catch { await fail(error) }
      }
      // Install the links; send every unconfirmed append again (the script skips the ones Redis has), then
      // subscribe to every topic: each confirmation starts that feed's catch-up.
      let topics = state.withLock { state -> [String] in
        state.command = command
        state.subscriber = subscriber
        var bytes: [UInt8] = []
        for pending in state.appends[state.appendsHead...] {
          bytes.append(contentsOf: pending.command)
          expect(.append, in: &state)
        }
        if !bytes.isEmpty { command.enqueue(bytes) }
        return Array(state.feeds.keys)
      }
      for topic in topics { subscriber.enqueue(Self.command("SSUBSCRIBE", names(topic).channel)) }
      group.addTask {
        await fail(await self.watchHealth(command: command, subscriber: subscriber))
      }
      // A task ends only when the links fail (they are closed by then): stop the health check's sleep at once.
      await group.next()
      group.cancelAll()
      await group.waitForAll()
    }
    let error = failure.withLock { $0 } ?? .unavailable("connection closed")
    let reads = state.withLock { state -> [CheckedContinuation<Result<TopicHistoryPage, PubSubError>, Never>] in
      if state.command === command { state.command = nil }
      if state.subscriber === subscriber { state.subscriber = nil }
      var reads: [CheckedContinuation<Result<TopicHistoryPage, PubSubError>, Never>] = []
      for reply in state.replies[state.repliesHead...] {
        if case .historyRead(let continuation) = reply { reads.append(continuation) }
      }
      state.replies = []
      state.repliesHead = 0
      state.oldestReplySince = nil
      for topic in Array(state.feeds.keys) { state.feeds[topic]?.disconnected() }
      return reads
    }
    for read in reads { read.resume(returning: .failure(error)) }
    return error
  }

  /// Pings both links every interval; fails when a reply is overdue or the subscribing link stays silent.
  private func watchHealth(command: RedisLink, subscriber: RedisLink) async -> PubSubError {
    let ping = Self.command("PING")
    while true {
      do { try await Task.sleep(for: configuration.healthCheckInterval) } catch { return .shutDown }
      if state.withLock({ $0.shutDown }) { return .shutDown }
      let overdue = state.withLock { state -> Bool in
        guard let since = state.oldestReplySince else { return false }
        return ContinuousClock.now - since > configuration.replyTimeout
      }
      if overdue || subscriber.silence > configuration.healthCheckInterval + configuration.replyTimeout {
        return .timedOut(operation: "Redis reply", limit: configuration.replyTimeout)
      }
      subscriber.enqueue(ping)
      state.withLock { expect(.ping, in: &$0) }
      command.enqueue(ping)
    }
  }

  /// Records a reply due on the command link.
  private func expect(_ reply: Reply, in state: inout State) {
    if state.repliesHead == state.replies.count { state.oldestReplySince = .now }
    state.replies.append(reply)
  }

  private func handleCommandReply(_ value: RESPValue) throws(PubSubError) {
    let reply = try state.withLock { state throws(PubSubError) -> Reply in
      guard state.repliesHead < state.replies.count else {
        throw .protocolViolation("a reply nothing asked for: \(value)")
      }
      let reply = state.replies[state.repliesHead]
      state.repliesHead += 1
      if state.repliesHead == state.replies.count {
        state.replies.removeAll(keepingCapacity: state.replies.capacity <= 4096)
        state.repliesHead = 0
        state.oldestReplySince = nil
      } else {
        state.oldestReplySince = .now
      }
      return reply
    }
    if case .error(let message) = value {
      if case .historyRead(let continuation) = reply { continuation.resume(returning: .failure(.refused(message))) }
      throw .refused(message)
    }
    switch reply {
    case .ping: return
    case .append: try confirmAppend(value)
    case .historyRead(let continuation):
      do {
        continuation.resume(returning: .success(try RedisStreamsScripts.page(from: value)))
      } catch {
        continuation.resume(returning: .failure(error))
        throw error
      }
    case .feedRead(let topic):
      let page = try RedisStreamsScripts.page(from: value)
      let actions = state.withLock { $0.feeds[topic]?.readCompleted(page, limit: pageSize) } ?? []
      perform(actions, topic: topic)
    }
  }

  private func confirmAppend(_ value: RESPValue) throws(PubSubError) {
    guard case .array(let items?) = value, items.count == 2, let epoch = items[0].string,
      case .integer(let position) = items[1]
    else { throw .protocolViolation("unexpected reply to an append: \(value)") }
    let pending = state.withLock { state -> PendingAppend? in
      guard state.appendsHead < state.appends.count else { return nil }
      let pending = state.appends[state.appendsHead]
      state.appendsHead += 1
      state.appendBytes -= pending.command.count
      if state.appendsHead == state.appends.count {
        state.appends.removeAll(keepingCapacity: state.appends.capacity <= 4096)
        state.appendsHead = 0
      }
      return pending
    }
    pending?.confirmed?(.success(position > 0 ? TopicOffset(epoch: epoch, position: UInt64(position)) : nil))
  }

  private func handlePush(_ value: RESPValue) throws(PubSubError) {
    guard case .array(let items?) = value, let kind = items.first?.string else {
      if case .error(let message) = value { throw .refused(message) }
      if case .simpleString("PONG") = value { return }
      throw .protocolViolation("unexpected push on the subscribing connection: \(value)")
    }
    switch kind {
    case "smessage":
      guard items.count == 3, let channel = items[1].string, let payload = items[2].bytes else {
        throw .protocolViolation("malformed smessage push")
      }
      guard let topic = topic(ofChannel: channel), let live = RedisStreamsScripts.liveMessage(payload) else { return }
      let actions = state.withLock { state -> [TopicFeed.Action] in
        let token = live.publisher == publisherName ? state.tokens.removeValue(forKey: live.sequence) : nil
        let entry = TopicFeed.Entry(offset: live.offset, message: live.message, token: token)
        return state.feeds[topic]?.received(entry) ?? []
      }
      perform(actions, topic: topic)
    case "ssubscribe":
      guard items.count == 3, let channel = items[1].string, let topic = topic(ofChannel: channel) else { return }
      let actions = state.withLock { $0.feeds[topic]?.subscribed() } ?? []
      perform(actions, topic: topic)
    case "sunsubscribe", "pong":
      break
    default:
      throw .protocolViolation("unexpected push \(kind)")
    }
  }

  /// Carries out a feed's actions: deliveries and gaps to the hub, reads on the command link; then wakes the
  /// callers of ``liveOffset(of:)`` when the feed is live. Called on the loop, in the order of events.
  private func perform(_ actions: [TopicFeed.Action], topic: String) {
    let sink = state.withLock { $0.sink }
    for action in actions {
      switch action {
      case .deliver(let entry):
        sink?.deliver(entry.message, to: topic, at: entry.offset, token: entry.token)
      case .gap(let gap):
        sink?.historyGap(gap)
      case .read(let after):
        let command = readCommand(topic, after: after, limit: pageSize)
        let link = state.withLock { state -> RedisLink? in
          guard let link = state.command else {
            state.feeds[topic]?.readFailed()
            return nil
          }
          expect(.feedRead(topic: topic), in: &state)
          return link
        }
        link?.enqueue(command)
      }
    }
    let (offset, waiters) = state.withLock { state -> (TopicOffset?, [CheckedContinuation<Result<TopicOffset, PubSubError>, Never>]) in
      guard let feed = state.feeds[topic], feed.isLive, let offset = feed.offset,
        let waiters = state.liveWaiters.removeValue(forKey: topic)
      else { return (nil, []) }
      return (offset, Array(waiters.values))
    }
    if let offset { for waiter in waiters { waiter.resume(returning: .success(offset)) } }
  }

  // MARK: Commands

  /// How many entries a read returns at most: 256, and three values each in one RESP array within the parser's
  /// bound (``RESPParser/Limits/maxArrayCount``, 1,024 by default).
  private var pageSize: Int { max(1, min(256, configuration.parserLimits.maxArrayCount / 3)) }

  private func readCommand(_ topic: String, after: UInt64?, limit: Int) -> [UInt8] {
    let names = names(topic)
    let maxAge = history.options(topic)?.maxAge.map(Self.milliseconds) ?? 0
    let candidate = state.withLock { newEpoch(&$0) }
    return Self.evalCommand(
      RedisStreamsScripts.read, keys: [names.stream, names.meta],
      arguments: [
        after.map { Array("\(min($0, RedisStreamsScripts.largestPosition))".utf8) } ?? [], Array("\(limit)".utf8),
        Array("\(maxAge)".utf8), Array(candidate.utf8),
      ])
  }

  /// An epoch no other call of this process proposes (the script keeps the first one proposed for a topic).
  private func newEpoch(_ state: inout State) -> String {
    state.epochCounter += 1
    return "\(epochPrefix)\(state.epochCounter)"
  }

  private func names(_ topic: String) -> (stream: [UInt8], meta: [UInt8], channel: [UInt8]) {
    RedisStreamsScripts.names(of: topic, prefix: configuration.channelPrefix)
  }

  private func topic(ofChannel channel: String) -> String? {
    let prefix = configuration.channelPrefix + "{"
    guard channel.hasPrefix(prefix), channel.hasSuffix("}") else { return nil }
    return String(channel.dropFirst(prefix.count).dropLast())
  }

  private func report(_ event: PubSubEvent) {
    state.withLock { $0.sink }?.backendEvent(event)
  }

  /// `EVALSHA` of `script` (loaded on every connection) with its keys and arguments.
  private static func evalCommand(_ script: String, keys: [[UInt8]], arguments: [[UInt8]]) -> [UInt8] {
    var bytes: [UInt8] = []
    RESPValue.command(
      [Array("EVALSHA".utf8), Array(sha1Hex(script).utf8), Array("\(keys.count)".utf8)] + keys + arguments, into: &bytes)
    return bytes
  }

  private static func sha1Hex(_ script: String) -> String {
    switch script {
    case RedisStreamsScripts.append: appendSHA
    default: readSHA
    }
  }

  static let appendSHA = TopicOffset.hex(SHA1.hash(Array(RedisStreamsScripts.append.utf8)))
  static let readSHA = TopicOffset.hex(SHA1.hash(Array(RedisStreamsScripts.read.utf8)))

  private static func command(_ parts: String...) -> [UInt8] {
    var bytes: [UInt8] = []
    RESPValue.command(parts.map { Array($0.utf8) }, into: &bytes)
    return bytes
  }

  private static func command(_ name: String, _ argument: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    RESPValue.command([Array(name.utf8), argument], into: &bytes)
    return bytes
  }

  private static func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
  }
}
