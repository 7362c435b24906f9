import Synchronization
import WispCommon

/// What a ``RedisNode`` tells its owner (the ``RedisRouter``).
protocol RedisNodeDelegate: AnyObject, Sendable {
  /// Both links are up, subscriptions and unconfirmed requests sent again; `lostFor`: since when it was down.
  func nodeConnected(_ node: RedisNode, lostFor: Duration?)
  /// A link failed; the node reconnects with backoff. `channels`: its subscriptions (renewed after it).
  func nodeDisconnected(_ node: RedisNode, error: PubSubError, channels: [[UInt8]])
  /// Something arrived on the subscribing link.
  func node(_ node: RedisNode, received push: RESPValue) throws(PubSubError)
  /// A request was answered with an error; `true` when the router took it back (a cluster redirection).
  func node(_ node: RedisNode, redirect request: RedisRequest, error: String) -> Bool
}

/// One Redis server: a link for commands (pipelined, replies matched in order) and a link for subscriptions, on
/// one event loop, reconnected with backoff. Requests written but not answered when a link fails are written again
/// after the reconnection when they may be (``RedisRequest/resend``), in order, before any new one; the others fail.
/// Every wait is bounded: the handshake and each reply by ``RedisConfiguration/replyTimeout``, an idle link by the
/// health-check PINGs.
final class RedisNode: Sendable {
  let endpoint: Endpoint
  private let configuration: RedisConfiguration
  private let loop: EventLoop
  /// `SUBSCRIBE` or `SSUBSCRIBE` (and the matching unsubscribe).
  private let subscribeCommand: String
  private let unsubscribeCommand: String
  /// Commands after AUTH and PING on every new command link (`SCRIPT LOAD`), one reply each, checked by `check`.
  private let setup: [[UInt8]]
  private let check: @Sendable ([RESPValue]) throws(PubSubError) -> Void

  private struct Sent {
    /// `nil`: taken back by the router (its reply is dropped).
    var request: RedisRequest?
    var remaining: Int
  }

  private struct State {
    weak var delegate: (any RedisNodeDelegate)?
    var command: RedisLink?
    var subscriber: RedisLink?
    var sent: [Sent] = []
    var sentHead = 0
    var oldestSince: ContinuousClock.Instant?
    var unsent: [RedisRequest] = []
    var channels: Set<[UInt8]> = []
    var shutDown = false
    var supervisor: Task<Void, Never>?
  }
  private let state = Mutex(State())

  init(
    endpoint: Endpoint, configuration: RedisConfiguration, loop: EventLoop, sharded: Bool, setup: [[UInt8]],
    check: @escaping @Sendable ([RESPValue]) throws(PubSubError) -> Void
  ) {
    self.endpoint = endpoint
    self.configuration = configuration
    self.loop = loop
    subscribeCommand = sharded ? "SSUBSCRIBE" : "SUBSCRIBE"
    unsubscribeCommand = sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE"
    self.setup = setup
    self.check = check
  }

  /// Starts connecting (once).
  func start(delegate: any RedisNodeDelegate) {
    state.withLock { state in
      state.delegate = delegate
      guard state.supervisor == nil, !state.shutDown else { return }
      state.supervisor = Task(executorPreference: loop) { await self.supervise() }
    }
  }

  /// Whether both links are up.
  var isConnected: Bool { state.withLock { $0.command != nil } }

  /// Writes `request` now when connected, after the reconnection otherwise.
  func send(_ request: RedisRequest) {
    let write = state.withLock { state -> RedisLink?? in
      if state.shutDown { return .none }
      guard let link = state.command else {
        state.unsent.append(request)
        return .some(nil)
      }
      push(request, in: &state)
      return .some(link)
    }
    switch write {
    case .none: request.complete(.failure(.shutDown))
    case .some(let link?): link.enqueue(request.command)
    case .some(nil): break
    }
  }

  /// Takes back every request of the slots `moved` says, in the order they were sent (written ones first); the
  /// replies of written ones are dropped when they come.
  func takeRequests(where moved: (Int) -> Bool) -> [RedisRequest] {
    state.withLock { state in
      var taken: [RedisRequest] = []
      for index in state.sentHead..<state.sent.count {
        if let request = state.sent[index].request, let slot = request.slot, moved(slot) {
          taken.append(request)
          state.sent[index].request = nil
        }
      }
      var kept: [RedisRequest] = []
      for request in state.unsent {
        if let slot = request.slot, moved(slot) { taken.append(request) } else { kept.append(request) }
      }
      state.unsent = kept
      return taken
    }
  }

  /// Subscribes to `channel` now when connected, and after every reconnection; `force`: send the command even when
  /// the node already keeps the subscription (the server may have refused it, or dropped it).
  func subscribe(_ channel: [UInt8], force: Bool = false) {
    let link = state.withLock { state -> RedisLink? in
      guard state.channels.insert(channel).inserted || force else { return nil }
      return state.subscriber
    }
    link?.enqueue(Self.command(subscribeCommand, channel))
  }

  /// Whether the node keeps a subscription to `channel`.
  func holds(_ channel: [UInt8]) -> Bool { state.withLock { $0.channels.contains(channel) } }

  /// Unsubscribes from `channel`; `sendCommand: false` when the server already dropped it.
  func unsubscribe(_ channel: [UInt8], sendCommand: Bool = true) {
    let link = state.withLock { state -> RedisLink? in
      guard state.channels.remove(channel) != nil else { return nil }
      return state.subscriber
    }
    if sendCommand { link?.enqueue(Self.command(unsubscribeCommand, channel)) }
  }

  /// Stops: closes the links; every request waiting fails with `PubSubError/shutDown`.
  func shutdown() async {
    let (supervisor, links, requests) = state.withLock { state in
      state.shutDown = true
      let requests = state.sent[state.sentHead...].compactMap(\.request) + state.unsent
      state.sent = []
      state.sentHead = 0
      state.unsent = []
      return (state.supervisor, [state.command, state.subscriber].compactMap { $0 }, requests)
    }
    for request in requests { request.complete(.failure(.shutDown)) }
    supervisor?.cancel()
    for link in links { await link.close() }
    await supervisor?.value
  }

  private func push(_ request: RedisRequest, in state: inout State) {
    if state.sentHead == state.sent.count { state.oldestSince = .now }
    state.sent.append(Sent(request: request, remaining: request.replies))
  }

  // MARK: The links' life

  private func supervise() async {
    var failures = 0
    var lostSince: ContinuousClock.Instant?
    var generator = SystemRandomNumberGenerator()
    var reportedDown = false
    while !Task.isCancelled, !state.withLock({ $0.shutDown }) {
      do {
        let (command, replies) = try await RedisLink.open(configuration, on: loop, endpoint: endpoint, then: setup)
        let subscriber: RedisLink
        do {
          try check(replies)
          (subscriber, _) = try await RedisLink.open(configuration, on: loop, endpoint: endpoint)
        } catch {
          await command.close()
          throw error
        }
        failures = 0
        reportedDown = false
        let error = await serve(command: command, subscriber: subscriber, lostFor: lostSince.map { .now - $0 })
        lostSince = .now
        if state.withLock({ $0.shutDown }) { return }
        let channels = state.withLock { Array($0.channels) }
        state.withLock { $0.delegate }?.nodeDisconnected(self, error: error, channels: channels)
        reportedDown = true
      } catch {
        if lostSince == nil { lostSince = .now }
        if !reportedDown {
          let channels = state.withLock { Array($0.channels) }
          state.withLock { $0.delegate }?.nodeDisconnected(
            self, error: PubSubError(redisFailure: error), channels: channels)
        }
        reportedDown = true
      }
      failures += 1
      try? await Task.sleep(for: configuration.reconnect.delay(afterFailures: failures, using: &generator))
    }
  }

  /// Runs both links until one fails; returns why.
  private func serve(command: RedisLink, subscriber: RedisLink, lostFor: Duration?) async -> PubSubError {
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
            try self.handleReply(value)
          }
        } catch { await fail(error) }
      }
      group.addTask {
        do {
          try await subscriber.runReader(limits: self.configuration.parserLimits) { value throws(PubSubError) in
            try self.state.withLock { $0.delegate }?.node(self, received: value)
          }
        } catch { await fail(error) }
      }
      // Install the links: requests waiting (unanswered ones from the last connection first) go out in order, then
      // every subscription.
      let channels = state.withLock { state -> [[UInt8]] in
        state.command = command
        state.subscriber = subscriber
        var bytes: [UInt8] = []
        for request in state.unsent {
          bytes.append(contentsOf: request.command)
          push(request, in: &state)
        }
        state.unsent = []
        if !bytes.isEmpty { command.enqueue(bytes) }
        return Array(state.channels)
      }
      for channel in channels { subscriber.enqueue(Self.command(subscribeCommand, channel)) }
      state.withLock { $0.delegate }?.nodeConnected(self, lostFor: lostFor)
      group.addTask {
        await fail(await self.watchHealth(command: command, subscriber: subscriber))
      }
      // A task ends only when the links fail (they are closed by then): stop the health check's sleep at once.
      await group.next()
      group.cancelAll()
      await group.waitForAll()
    }
    let error = failure.withLock { $0 } ?? .unavailable("connection closed")
    let failed = state.withLock { state -> [RedisRequest] in
      state.command = nil
      state.subscriber = nil
      var resent: [RedisRequest] = []
      var failed: [RedisRequest] = []
      for sent in state.sent[state.sentHead...] {
        guard let request = sent.request else { continue }
        if request.resend { resent.append(request) } else { failed.append(request) }
      }
      state.unsent = resent + state.unsent
      state.sent = []
      state.sentHead = 0
      state.oldestSince = nil
      return failed
    }
    for request in failed { request.complete(.failure(error)) }
    return error
  }

  /// Pings both links every interval; fails when a reply is overdue or the subscribing link stays silent.
  private func watchHealth(command: RedisLink, subscriber: RedisLink) async -> PubSubError {
    let ping = Self.command("PING")
    while true {
      do { try await Task.sleep(for: configuration.healthCheckInterval) } catch { return .shutDown }
      if state.withLock({ $0.shutDown }) { return .shutDown }
      let overdue = state.withLock { state -> Bool in
        guard let since = state.oldestSince else { return false }
        return ContinuousClock.now - since > configuration.replyTimeout
      }
      if overdue || subscriber.silence > configuration.healthCheckInterval + configuration.replyTimeout {
        return .timedOut(operation: "Redis reply from \(endpoint)", limit: configuration.replyTimeout)
      }
      subscriber.enqueue(ping)
      state.withLock { push(RedisRequest(command: ping, resend: false) { _ in }, in: &$0) }
      command.enqueue(ping)
    }
  }

  private func handleReply(_ value: RESPValue) throws(PubSubError) {
    let request = try state.withLock { state throws(PubSubError) -> RedisRequest? in
      guard state.sentHead < state.sent.count else { throw .protocolViolation("a reply nothing asked for: \(value)") }
      state.sent[state.sentHead].remaining -= 1
      guard state.sent[state.sentHead].remaining == 0 else { return nil }
      let request = state.sent[state.sentHead].request
      state.sentHead += 1
      if state.sentHead == state.sent.count {
        state.sent.removeAll(keepingCapacity: state.sent.capacity <= 4096)
        state.sentHead = 0
        state.oldestSince = nil
      } else {
        state.oldestSince = .now
      }
      return request
    }
    guard let request else { return }
    if case .error(let message) = value {
      if state.withLock({ $0.delegate })?.node(self, redirect: request, error: message) == true { return }
      request.complete(.failure(.refused(message)))
      return
    }
    request.complete(.success(value))
  }

  static func command(_ parts: String...) -> [UInt8] {
    var bytes: [UInt8] = []
    RESPValue.command(parts.map { Array($0.utf8) }, into: &bytes)
    return bytes
  }

  static func command(_ name: String, _ argument: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    RESPValue.command([Array(name.utf8), argument], into: &bytes)
    return bytes
  }
}
