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
/// Two connections per Redis (one server, or each master of a Redis Cluster: `RedisConfiguration/clusterNodes`),
/// on one event loop: commands (a Lua script per append: trims, publishes and answers the offset; history reads)
/// pipelined in order, and a subscribing one (`SSUBSCRIBE`, sharded pub/sub: the live feed; in a cluster a message
/// travels only to the shard that owns its topic, since a topic's keys and channel share one hash tag).
/// Live messages only say that something new is there; the stream is the truth: a message that does not follow
/// the last one delivered makes the backend read the stream first (`TopicFeed`).
///
/// Appends are idempotent and ordered: each carries this hub's name and its sequence number in the topic; the
/// script skips one it has recorded and refuses one that skips ahead (an earlier one met a passing error and comes
/// again first), so messages written before a lost connection or a cluster redirection are sent again without
/// duplicates or reordering. Until Redis
/// confirms them they are kept (within ``RedisConfiguration/outgoingBufferLimit``; beyond it `publish` throws
/// `PubSubError/bufferFull(limit:)`). How much survives a Redis crash is Redis's persistence (`appendonly yes`
/// and `appendfsync always` keep every confirmed append).
public final class RedisStreams: TopicHistoryBackend, RedisRouterDelegate, Sendable {
  /// The connection settings and bounds (``RedisConfiguration/channelPrefix`` prefixes the keys).
  public let configuration: RedisConfiguration
  /// What each topic keeps (`TopicHistoryOptions.maxCount` and `TopicHistoryOptions.maxAge`; `maxBytes` is
  /// Redis's own `maxmemory`); a topic without options keeps nothing but still numbers its messages.
  public let history: TopicHistoryPolicy
  /// This hub's identifier (16 hex digits) in appends.
  let publisherName: String
  private let loop: EventLoop
  private let epochPrefix: String
  private let router: RedisRouter

  private struct State {
    weak var sink: (any PubSubSink)?
    var feeds: [String: TopicFeed] = [:]
    /// Bytes of appends not yet confirmed (bounded by ``RedisConfiguration/outgoingBufferLimit``).
    var appendBytes = 0
    /// Each topic's publisher name for this hub (an incarnation after the hub's identifier, renewed when an append
    /// is given up, so that later ones are not refused as out of order) and its last sequence number.
    var sequences: [String: (incarnation: UInt64, last: UInt64)] = [:]
    var incarnations: UInt64 = 0
    var epochCounter: UInt64 = 0
    /// The hub's token of each own append that has one, by publisher name and sequence number.
    var tokens: [String: UInt64] = [:]
    var liveWaiters: [String: [UInt64: CheckedContinuation<Result<TopicOffset, PubSubError>, Never>]] = [:]
    var nextWaiter: UInt64 = 0
    var shutDown = false
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
    router = RedisRouter(
      configuration: configuration, loop: loop, sharded: true,
      setup: [
        RedisNode.command("SCRIPT", "LOAD", RedisStreamsScripts.append),
        RedisNode.command("SCRIPT", "LOAD", RedisStreamsScripts.read),
      ]
    ) { replies throws(PubSubError) in
      guard replies.map(\.string) == [Self.appendSHA, Self.readSHA] else {
        throw .protocolViolation("SCRIPT LOAD answered \(replies), not the scripts' SHA-1")
      }
    }
  }

  // MARK: PubSubBackend

  /// Starts connecting (in the background; failures are reported as events and retried).
  public func attach(_ sink: any PubSubSink) {
    state.withLock { $0.sink = sink }
    router.start(delegate: self)
  }

  /// Starts the topic's live feed: `SSUBSCRIBE`, then where the history stands.
  public func subscribe(_ topic: String) {
    let new = state.withLock { state -> Bool in
      guard state.feeds[topic] == nil else { return false }
      state.feeds[topic] = TopicFeed(topic: topic, bufferLimit: configuration.outgoingBufferLimit)
      return true
    }
    if new { router.subscribe(names(topic).channel) }
  }

  /// Stops the topic's live feed.
  public func unsubscribe(_ topic: String) {
    let waiters = state.withLock { state in
      state.feeds[topic] = nil
      return Array((state.liveWaiters.removeValue(forKey: topic) ?? [:]).values)
    }
    for waiter in waiters { waiter.resume(returning: .failure(.unavailable("unsubscribed from \(topic)"))) }
    router.unsubscribe(names(topic).channel)
  }

  /// Appends `message` (see ``append(_:to:token:confirmed:)``).
  public func publish(_ message: TopicMessage, to topic: String) throws(PubSubError) {
    try append(message, to: topic, token: nil, confirmed: nil)
  }

  /// Appends `message` to the topic's stream: written at once when connected, after the reconnection otherwise,
  /// and written again after a lost connection until Redis confirms it (the script skips a repeat).
  ///
  /// - Throws: `PubSubError/bufferFull(limit:)` when unconfirmed appends would exceed
  ///   ``RedisConfiguration/outgoingBufferLimit``; `PubSubError/shutDown` after ``shutdown()``.
  public func append(
    _ message: TopicMessage, to topic: String, token: UInt64?,
    confirmed: (@Sendable (Result<TopicOffset?, PubSubError>) -> Void)?
  ) throws(PubSubError) {
    let options = history.options(topic)
    let names = names(topic)
    let (command, incarnation) = try state.withLock { state throws(PubSubError) -> ([UInt8], UInt64) in
      if state.shutDown { throw .shutDown }
      let current = state.sequences[topic] ?? (state.incarnations, 0)
      let sequence = current.last + 1
      let publisher = "\(publisherName).\(current.incarnation)"
      let command = Self.evalCommand(
        Self.appendSHA, keys: [names.stream, names.meta, names.channel],
        arguments: [
          Array(newEpoch(&state).utf8), Array(publisher.utf8), Array("\(sequence)".utf8),
          message.type == .text ? [49] : [50], message.payload, Array("\(options?.maxCount ?? 0)".utf8),
          Array("\(options?.maxAge.map(Self.milliseconds) ?? 0)".utf8),
        ])
      guard state.appendBytes + command.count <= configuration.outgoingBufferLimit else {
        throw .bufferFull(limit: configuration.outgoingBufferLimit)
      }
      state.sequences[topic] = (current.incarnation, sequence)
      state.appendBytes += command.count
      if let token {
        if state.tokens.count >= 65_536 { state.tokens.removeAll() }
        state.tokens["\(publisher) \(sequence)"] = token
      }
      return (command, current.incarnation)
    }
    let size = command.count
    router.send(
      RedisRequest(command: command, slot: RedisClusterSlot.of(names.channel), resend: true) { [weak self] result in
        self?.state.withLock { state in
          state.appendBytes -= size
          // Given up (refused, or retried too long): the topic's next appends start a new publisher name, which
          // the script accepts from 1, instead of waiting behind a number that will never come.
          if case .failure = result, state.sequences[topic]?.incarnation == incarnation {
            state.incarnations += 1
            state.sequences[topic] = (state.incarnations, 0)
          }
        }
        confirmed?(result.flatMap(Self.appendedOffset))
      })
  }

  /// Stops reconnecting and closes the connections (bounded by their close); unconfirmed appends fail with
  /// `PubSubError/shutDown`.
  public func shutdown() async {
    let waiters = state.withLock { state in
      state.shutDown = true
      defer { state.liveWaiters = [:] }
      return state.liveWaiters.values.flatMap(\.values)
    }
    for waiter in waiters { waiter.resume(returning: .failure(.shutDown)) }
    await router.shutdown()
  }

  // MARK: TopicHistoryBackend

  /// Waits until the topic's live feed is live (bounded by the connect and reply timeouts); returns the offset of
  /// the last message delivered before it.
  public func liveOffset(of topic: String) async throws(PubSubError) -> TopicOffset {
    let limit = waitLimit
    let id = state.withLock { state -> UInt64 in
      state.nextWaiter += 1
      return state.nextWaiter
    }
    let result = await withCheckedContinuation {
      (continuation: CheckedContinuation<Result<TopicOffset, PubSubError>, Never>) in
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

  /// Reads up to `limit` (at most 256) messages of `topic` after `position` from its stream; bounded by the
  /// connect and reply timeouts.
  public func readHistory(of topic: String, after position: UInt64, limit: Int) async throws(PubSubError)
    -> TopicHistoryPage
  {
    let command = readCommand(topic, after: position, limit: max(1, min(limit, pageSize)))
    let slot = RedisClusterSlot.of(names(topic).channel)
    let limit = waitLimit
    let result = await withCheckedContinuation {
      (continuation: CheckedContinuation<Result<TopicHistoryPage, PubSubError>, Never>) in
      let once = Mutex<CheckedContinuation<Result<TopicHistoryPage, PubSubError>, Never>?>(continuation)
      let finish: @Sendable (Result<TopicHistoryPage, PubSubError>) -> Void = { result in
        once.withLock { pending in
          defer { pending = nil }
          return pending
        }?.resume(returning: result)
      }
      router.send(
        RedisRequest(command: command, slot: slot, resend: false) { result in
          finish(
            result.flatMap { reply in Result { () throws(PubSubError) in try RedisStreamsScripts.page(from: reply) } })
        })
      Task(executorPreference: loop) {
        try? await Task.sleep(for: limit)
        finish(.failure(.timedOut(operation: "history read of \(topic)", limit: limit)))
      }
    }
    return try result.get()
  }

  // MARK: RedisRouterDelegate

  func routerConnected(_ endpoint: Endpoint, lostFor: Duration?) {
    report(lostFor.map { .reconnected(window: $0, unconfirmedOutgoing: 0) } ?? .connected)
  }

  func routerDisconnected(_ endpoint: Endpoint, error: PubSubError, channels: [[UInt8]]) {
    state.withLock { state in
      for channel in channels {
        if let topic = topic(ofChannel: String(decoding: channel, as: UTF8.self)) { state.feeds[topic]?.disconnected() }
      }
    }
    report(.disconnected(error))
  }

  func routerReceived(_ push: RESPValue) throws(PubSubError) {
    guard let (kind, items) = try RedisRouter.pushKind(push) else { return }
    switch kind {
    case "smessage":
      guard items.count == 3, let channel = items[1].string, let payload = items[2].bytes else {
        throw .protocolViolation("malformed smessage push")
      }
      guard let topic = topic(ofChannel: channel), let live = RedisStreamsScripts.liveMessage(payload) else { return }
      let actions = state.withLock { state -> [TopicFeed.Action] in
        let token =
          live.publisher.hasPrefix(publisherName + ".")
          ? state.tokens.removeValue(forKey: "\(live.publisher) \(live.sequence)") : nil
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

  /// Carries out a feed's actions: deliveries and gaps to the hub, reads of the stream; then wakes the callers of
  /// ``liveOffset(of:)`` when the feed is live. Called on the loop, in the order of events.
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
        let pageSize = pageSize
        router.send(
          RedisRequest(command: command, slot: RedisClusterSlot.of(names(topic).channel), resend: false) {
            [weak self] result in
            guard let self else { return }
            switch result.flatMap({ reply in
              Result { () throws(PubSubError) in try RedisStreamsScripts.page(from: reply) }
            }) {
            case .success(let page):
              let actions = self.state.withLock { $0.feeds[topic]?.readCompleted(page, limit: pageSize) } ?? []
              self.perform(actions, topic: topic)
            case .failure:
              // The connection went (the renewed subscription starts the catch-up again), or Redis refused the
              // read: try again shortly either way.
              self.state.withLock { _ = $0.feeds[topic]?.readFailed() }
              self.retryCatchUp(topic)
            }
          })
      }
    }
    let (offset, waiters) = state.withLock {
      state -> (TopicOffset?, [CheckedContinuation<Result<TopicOffset, PubSubError>, Never>]) in
      guard let feed = state.feeds[topic], feed.isLive, let offset = feed.offset,
        let waiters = state.liveWaiters.removeValue(forKey: topic)
      else { return (nil, []) }
      return (offset, Array(waiters.values))
    }
    if let offset { for waiter in waiters { waiter.resume(returning: .success(offset)) } }
  }

  /// Starts a feed's catch-up again after a failed read (200 ms later; nothing when a read is out by then).
  private func retryCatchUp(_ topic: String) {
    Task(executorPreference: loop) {
      try? await Task.sleep(for: .milliseconds(200))
      let actions = self.state.withLock { $0.feeds[topic]?.subscribed() } ?? []
      self.perform(actions, topic: topic)
    }
  }

  // MARK: Commands

  /// How many entries a read returns at most: 256, and three values each in one RESP array within the parser's
  /// bound (`RESPParser.Limits.maxArrayCount`, 1,024 by default).
  private var pageSize: Int { max(1, min(256, configuration.parserLimits.maxArrayCount / 3)) }

  /// The longest wait for a read or a live feed: a reconnection and two replies.
  private var waitLimit: Duration { configuration.connectTimeout + configuration.replyTimeout * 2 }

  private func readCommand(_ topic: String, after: UInt64?, limit: Int) -> [UInt8] {
    let names = names(topic)
    let maxAge = history.options(topic)?.maxAge.map(Self.milliseconds) ?? 0
    let candidate = state.withLock { newEpoch(&$0) }
    return Self.evalCommand(
      Self.readSHA, keys: [names.stream, names.meta],
      arguments: [
        after.map { Array("\(min($0, RedisStreamsScripts.largestPosition))".utf8) } ?? [], Array("\(limit)".utf8),
        Array("\(maxAge)".utf8), Array(candidate.utf8),
      ])
  }

  /// The offset in an append's reply (`nil` for a repeat the script skipped).
  private static func appendedOffset(_ reply: RESPValue) -> Result<TopicOffset?, PubSubError> {
    guard case .array(let items?) = reply, items.count == 2, let epoch = items[0].string,
      case .integer(let position) = items[1]
    else { return .failure(.protocolViolation("unexpected reply to an append: \(reply)")) }
    return .success(position > 0 ? TopicOffset(epoch: epoch, position: UInt64(position)) : nil)
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

  /// `EVALSHA` of the script with SHA-1 `sha` (loaded on every connection) with its keys and arguments.
  private static func evalCommand(_ sha: String, keys: [[UInt8]], arguments: [[UInt8]]) -> [UInt8] {
    var bytes: [UInt8] = []
    RESPValue.command(
      [Array("EVALSHA".utf8), Array(sha.utf8), Array("\(keys.count)".utf8)] + keys + arguments, into: &bytes)
    return bytes
  }

  static let appendSHA = TopicOffset.hex(SHA1.hash(Array(RedisStreamsScripts.append.utf8)))
  static let readSHA = TopicOffset.hex(SHA1.hash(Array(RedisStreamsScripts.read.utf8)))

  private static func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
  }
}
