import Synchronization
import WispCommon

/// A `PubSubBackend` on Redis pub/sub (RESP2 over the library's own sockets): the `Topics` of several server
/// processes, on one machine or many, share topics through one Redis.
///
/// ```swift
/// let topics = Topics(backend: RedisPubSub(try RedisConfiguration(url: "redis://127.0.0.1:6379")))
/// ```
///
/// Two connections per Redis (one server, or each master of a Redis Cluster: ``RedisConfiguration/clusterNodes``):
/// one in subscribe mode (SUBSCRIBE per topic with local subscribers, each message delivered to the hub), one that
/// PUBLISHes in the order of ``publish(_:to:)`` calls (per-publisher order). On a cluster it uses sharded pub/sub
/// (Redis 7: `SSUBSCRIBE`, `SPUBLISH`), so that a message travels only to the shard that owns its topic's channel. Each message travels in a `PubSubEnvelope` with this hub's identifier and a sequence number: a hub
/// skips its own messages (its subscribers had them at once) and reports gaps.
///
/// Messages not yet confirmed by Redis (sent, or published while it is away) are kept up to
/// ``RedisConfiguration/outgoingBufferLimit`` and sent again after a reconnection (receivers skip a repeat by its
/// sequence number); beyond it ``publish(_:to:)`` throws
/// `PubSubError/bufferFull(limit:)`. The backend reconnects with backoff, subscribes again, and reports
/// `PubSubEvent/disconnected(_:)`, then `PubSubEvent/reconnected(window:unconfirmedOutgoing:)` with the window
/// in which other processes' messages may have been lost. A Redis that answers garbage, stalls or closes costs a
/// reconnection, never a crash or a wait on the WebSocket side: every wait has ``RedisConfiguration``'s bounds.
public final class RedisPubSub: PubSubBackend, RedisRouterDelegate, Sendable {
  /// The settings.
  public let configuration: RedisConfiguration
  /// This hub's identifier in envelopes (16 random bytes).
  public let publisherID: [UInt8]
  private let router: RedisRouter
  private let sharded: Bool

  private struct State {
    weak var sink: (any PubSubSink)?
    var topics: Set<String> = []
    /// Bytes and count of messages not yet confirmed.
    var unconfirmedBytes = 0
    var unconfirmed = 0
    /// Unconfirmed messages when the last connection was lost (reported with the reconnection).
    var unconfirmedAtLoss = 0
    var sequence: UInt64 = 0
    var shutDown = false
  }
  private let state = Mutex(State())
  private let sequences = Mutex(PublisherSequences())

  /// A backend for `configuration`, served by one loop of `group`. It connects when a `Topics` attaches it.
  public init(_ configuration: RedisConfiguration, group: EventLoopGroup = .shared) {
    self.configuration = configuration
    let random = SystemSecureRandom()
    var id = [UInt8](repeating: 0, count: 16)
    id.withUnsafeMutableBytes { random.fill($0) }
    self.publisherID = id
    sharded = !configuration.clusterNodes.isEmpty
    router = RedisRouter(configuration: configuration, loop: group.next(), sharded: sharded)
  }

  /// The publisher identifier as hex, as events name publishers.
  public var publisherName: String { TopicOffset.hex(publisherID) }

  // MARK: PubSubBackend

  /// Starts connecting (in the background; failures are reported as events and retried).
  public func attach(_ sink: any PubSubSink) {
    state.withLock { $0.sink = sink }
    router.start(delegate: self)
  }

  /// SUBSCRIBEs now when connected, and after every reconnection.
  public func subscribe(_ topic: String) {
    state.withLock { _ = $0.topics.insert(topic) }
    router.subscribe(channel(topic))
  }

  /// UNSUBSCRIBEs.
  public func unsubscribe(_ topic: String) {
    state.withLock { _ = $0.topics.remove(topic) }
    router.unsubscribe(channel(topic))
  }

  /// Queues a PUBLISH; written at once when connected, after the reconnection otherwise, and again after a lost
  /// connection until Redis confirms it.
  ///
  /// - Throws: `PubSubError/bufferFull(limit:)` when the unconfirmed messages would exceed
  ///   ``RedisConfiguration/outgoingBufferLimit``; `PubSubError/shutDown` after ``shutdown()``.
  public func publish(_ message: TopicMessage, to topic: String) throws(PubSubError) {
    let channel = channel(topic)
    let command = try state.withLock { state throws(PubSubError) -> [UInt8] in
      if state.shutDown { throw .shutDown }
      // The sequence number is spent even when the buffer is full: receivers will see the gap and report it.
      state.sequence += 1
      let envelope = PubSubEnvelope(publisher: publisherID, sequence: state.sequence, message: message)
      var command: [UInt8] = []
      RESPValue.command([Array((sharded ? "SPUBLISH" : "PUBLISH").utf8), channel, envelope.encoded()], into: &command)
      guard state.unconfirmedBytes + command.count <= configuration.outgoingBufferLimit else {
        throw .bufferFull(limit: configuration.outgoingBufferLimit)
      }
      state.unconfirmedBytes += command.count
      state.unconfirmed += 1
      return command
    }
    let size = command.count
    router.send(
      RedisRequest(command: command, slot: RedisClusterSlot.of(channel), resend: true) { [weak self] _ in
        self?.state.withLock { state in
          state.unconfirmedBytes -= size
          state.unconfirmed -= 1
        }
      })
  }

  /// Stops reconnecting and closes the connections (bounded by their close).
  public func shutdown() async {
    state.withLock { $0.shutDown = true }
    await router.shutdown()
  }

  // MARK: RedisRouterDelegate

  func routerConnected(_ endpoint: Endpoint, lostFor: Duration?) {
    let unconfirmed = state.withLock { $0.unconfirmedAtLoss }
    report(lostFor.map { .reconnected(window: $0, unconfirmedOutgoing: unconfirmed) } ?? .connected)
  }

  func routerDisconnected(_ endpoint: Endpoint, error: PubSubError, channels: [[UInt8]]) {
    state.withLock { $0.unconfirmedAtLoss = $0.unconfirmed }
    report(.disconnected(error))
  }

  func routerReceived(_ push: RESPValue) throws(PubSubError) {
    guard let (kind, items) = try RedisRouter.pushKind(push) else { return }
    switch kind {
    case "message", "smessage":
      guard items.count == 3, let channel = items[1].bytes, let payload = items[2].bytes else {
        throw .protocolViolation("malformed message push")
      }
      deliver(channel: channel, payload: payload)
    case "subscribe", "unsubscribe", "ssubscribe", "sunsubscribe", "pong":
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
