import Synchronization
import WispCommon

/// What a ``RedisRouter`` tells the backend that uses it.
protocol RedisRouterDelegate: AnyObject, Sendable {
  /// A node is connected (again, after `lostFor`).
  func routerConnected(_ endpoint: Endpoint, lostFor: Duration?)
  /// A node's links failed; its `channels` are subscribed again when it is back (or on the slot's new owner).
  func routerDisconnected(_ endpoint: Endpoint, error: PubSubError, channels: [[UInt8]])
  /// A push on a subscribing link (a message, a subscription's confirmation).
  func routerReceived(_ push: RESPValue) throws(PubSubError)
}

/// Sends commands and subscriptions to the right Redis: the one server, or in a Redis Cluster the master that owns
/// each command's slot. The slot map comes from `CLUSTER SLOTS` (at the start, after a `MOVED`, when a node is lost
/// or drops a subscription, and every 10 s); `MOVED` moves the slot's requests, in order, to its new owner; `ASK`
/// sends that one request to the node named, after `ASKING`; `TRYAGAIN` and `CLUSTERDOWN` retry after 50 ms.
/// Requests wait (in order) while the map is unknown. Every node is a ``RedisNode``: bounded waits, reconnection.
final class RedisRouter: RedisNodeDelegate, Sendable {
  private let configuration: RedisConfiguration
  private let loop: EventLoop
  private let sharded: Bool
  private let setup: [[UInt8]]
  private let check: @Sendable ([RESPValue]) throws(PubSubError) -> Void

  private struct State {
    weak var delegate: (any RedisRouterDelegate)?
    var nodes: [Endpoint: RedisNode] = [:]
    /// Each slot's master (cluster), once known.
    var owners: [Endpoint?] = []
    /// Requests waiting for the slot map.
    var unrouted: [RedisRequest] = []
    /// Subscriptions and the node each is on (`nil`: waiting for the map).
    var channels: [[UInt8]: Endpoint?] = [:]
    /// Requests of slots that wait (after `TRYAGAIN` or `CLUSTERDOWN`): sent again together, in order, 50 ms later;
    /// new requests of the slot queue behind them.
    var held: [Int: [RedisRequest]] = [:]
    var refreshing = false
    /// A subscribing link refused or dropped a subscription: after the next map, every subscription is sent again
    /// to its owner (a refused one is still in the node's set, which would skip it).
    var resubscribeAll = false
    var started = false
    var shutDown = false
    var refresher: Task<Void, Never>?
  }
  private let state = Mutex(State())

  /// Whether this is a cluster (``RedisConfiguration/clusterNodes`` not empty).
  var isCluster: Bool { !configuration.clusterNodes.isEmpty }

  init(
    configuration: RedisConfiguration, loop: EventLoop, sharded: Bool, setup: [[UInt8]] = [],
    check: @escaping @Sendable ([RESPValue]) throws(PubSubError) -> Void = { _ in }
  ) {
    self.configuration = configuration
    self.loop = loop
    self.sharded = sharded
    self.setup = setup
    self.check = check
  }

  /// Starts (once; nothing after ``shutdown()``): connects to the server, or to the cluster's seed nodes and reads
  /// the slot map.
  func start(delegate: any RedisRouterDelegate) {
    let seeds = isCluster ? configuration.clusterNodes : [configuration.endpoint]
    let first = state.withLock { state -> Bool in
      guard !state.started, !state.shutDown else { return false }
      state.started = true
      state.delegate = delegate
      for seed in seeds { _ = node(for: seed, in: &state) }
      return true
    }
    guard first, isCluster else { return }
    refresh()
    let task = Task(executorPreference: loop) { [weak self] in
      while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(10))
        guard let self, !Task.isCancelled else { return }
        self.refresh()
      }
    }
    state.withLock { $0.refresher = task }
  }

  /// Sends `request` to the node that owns its slot (the server when not a cluster). Requests of one slot reach
  /// Redis in the order of the calls, whatever redirection happens meanwhile: routing and handing over happen under
  /// one lock (appends rely on it: the script skips a sequence number lower than one it has seen).
  func send(_ request: RedisRequest) {
    let refused = state.withLock { state -> Bool in
      if state.shutDown { return true }
      dispatch(request, in: &state)
      return false
    }
    if refused { request.complete(.failure(.shutDown)) }
  }

  /// Hands `request` to its node, or keeps it (held slot, unknown map). Under the lock.
  private func dispatch(_ request: RedisRequest, in state: inout State) {
    if let slot = request.slot, state.held[slot] != nil {
      state.held[slot]!.append(request)
      return
    }
    route(request, in: &state)?.send(request)
  }

  /// Subscribes to `channel` on the node that owns it.
  func subscribe(_ channel: [UInt8]) {
    let node = state.withLock { state -> RedisNode? in
      let node = owner(of: RedisClusterSlot.of(channel), in: &state)
      state.channels[channel] = .some(node?.endpoint)
      return node
    }
    node?.subscribe(channel)
  }

  /// Unsubscribes from `channel`.
  func unsubscribe(_ channel: [UInt8]) {
    let node = state.withLock { state -> RedisNode? in
      guard let endpoint = state.channels.removeValue(forKey: channel) ?? nil else { return nil }
      return state.nodes[endpoint]
    }
    node?.unsubscribe(channel)
  }

  /// Stops every node.
  func shutdown() async {
    let (nodes, waiting, refresher) = state.withLock { state in
      state.shutDown = true
      defer {
        state.unrouted = []
        state.held = [:]
      }
      return (Array(state.nodes.values), state.unrouted + state.held.values.flatMap { $0 }, state.refresher)
    }
    refresher?.cancel()
    for request in waiting { request.complete(.failure(.shutDown)) }
    for node in nodes { await node.shutdown() }
  }

  // MARK: Routing

  /// The node for `request`, or `nil` when it waits for the slot map.
  private func route(_ request: RedisRequest, in state: inout State) -> RedisNode? {
    guard isCluster else { return state.nodes[configuration.endpoint] }
    guard let slot = request.slot else {
      return state.nodes.values.first { $0.isConnected } ?? state.nodes.values.first
    }
    guard let node = owner(of: slot, in: &state) else {
      state.unrouted.append(request)
      return nil
    }
    return node
  }

  private func owner(of slot: Int, in state: inout State) -> RedisNode? {
    guard isCluster else { return state.nodes[configuration.endpoint] }
    guard slot < state.owners.count, let endpoint = state.owners[slot] else { return nil }
    return node(for: endpoint, in: &state)
  }

  /// The node of `endpoint`, made and started when new.
  private func node(for endpoint: Endpoint, in state: inout State) -> RedisNode {
    if let node = state.nodes[endpoint] { return node }
    let node = RedisNode(
      endpoint: endpoint, configuration: configuration, loop: loop, sharded: sharded, setup: setup, check: check)
    state.nodes[endpoint] = node
    node.start(delegate: self)
    return node
  }

  // MARK: The slot map

  /// Asks a node for `CLUSTER SLOTS` (one request at a time) and applies the answer; `resubscribing`: then send
  /// every subscription again.
  func refresh(resubscribing: Bool = false) {
    guard isCluster else { return }
    let asked = state.withLock { state -> RedisNode? in
      if resubscribing { state.resubscribeAll = true }
      guard !state.refreshing, !state.shutDown else { return nil }
      state.refreshing = true
      let connected = state.nodes.values.filter(\.isConnected)
      return connected.randomElement() ?? state.nodes.values.randomElement()
    }
    guard let asked else { return }
    let request = RedisRequest(command: RedisNode.command("CLUSTER", "SLOTS"), resend: false) { [weak self] result in
      guard let self else { return }
      switch result {
      case .success(let reply): self.apply(Self.slotMap(reply))
      case .failure: break
      }
      self.state.withLock { $0.refreshing = false }
    }
    asked.send(request)
  }

  /// The owners from a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id], replicas...], ...]`.
  static func slotMap(_ reply: RESPValue) -> [(ClosedRange<Int>, Endpoint)] {
    guard case .array(let ranges?) = reply else { return [] }
    var map: [(ClosedRange<Int>, Endpoint)] = []
    for range in ranges {
      guard case .array(let fields?) = range, fields.count >= 3, case .integer(let start) = fields[0],
        case .integer(let end) = fields[1], start >= 0, end >= start, end < RedisClusterSlot.count,
        case .array(let master?) = fields[2], master.count >= 2, let host = master[0].string,
        case .integer(let port) = master[1], (1...65535).contains(port)
      else { continue }
      map.append((Int(start)...Int(end), .host(host, port: Int(port))))
    }
    return map
  }

  /// Installs a slot map: requests and subscriptions of slots whose owner changed move to the new owner, in order.
  private func apply(_ map: [(ClosedRange<Int>, Endpoint)]) {
    guard !map.isEmpty else { return }
    state.withLock { state in
      var owners = [Endpoint?](repeating: nil, count: RedisClusterSlot.count)
      for (range, endpoint) in map { for slot in range { owners[slot] = endpoint } }
      let previous = state.owners
      state.owners = owners
      var changed = [Bool](repeating: false, count: RedisClusterSlot.count)
      for slot in 0..<RedisClusterSlot.count where (slot < previous.count ? previous[slot] : nil) != owners[slot] {
        changed[slot] = true
      }
      // Requests on nodes that no longer own their slot, then those that waited for a map: to their owners, in
      // order, before any later request (this is under the lock that routes them).
      var moved: [RedisRequest] = []
      for node in state.nodes.values { moved += node.takeRequests { changed[$0] } }
      moved += state.unrouted
      state.unrouted = []
      for request in moved { dispatch(request, in: &state) }
      // Subscriptions whose slot has another owner (or had none).
      for (channel, current) in state.channels {
        let slot = RedisClusterSlot.of(channel)
        guard let endpoint = owners[slot], endpoint != current else { continue }
        _ = node(for: endpoint, in: &state)
        state.channels[channel] = endpoint
      }
    }
    resubscribe()
  }

  /// Puts every subscription on the node the map names (a node keeps a set: subscribing again is skipped, unless
  /// a link refused or dropped one since the last map).
  private func resubscribe() {
    let (plan, force) = state.withLock { state -> ([(RedisNode, [UInt8])], Bool) in
      defer { state.resubscribeAll = false }
      let plan = state.channels.compactMap { channel, endpoint in
        endpoint.flatMap { state.nodes[$0] }.map { ($0, channel) }
      }
      return (plan, state.resubscribeAll)
    }
    for (node, channel) in plan { node.subscribe(channel, force: force) }
    // Drop subscriptions a node holds for channels another node owns now.
    let stale = state.withLock { state -> [(RedisNode, [UInt8])] in
      var stale: [(RedisNode, [UInt8])] = []
      for node in state.nodes.values {
        for (channel, endpoint) in state.channels where endpoint != node.endpoint && node.holds(channel) {
          stale.append((node, channel))
        }
      }
      return stale
    }
    for (node, channel) in stale { node.unsubscribe(channel) }
  }

  /// The kind (`message`, `ssubscribe`, …) and items of a push on a subscribing link; `nil` for a `PONG` (a PING
  /// before the first subscription is answered outside subscribe mode).
  ///
  /// - Throws: `PubSubError/refused(_:)` for an error reply, `PubSubError/protocolViolation(_:)` for anything else.
  static func pushKind(_ push: RESPValue) throws(PubSubError) -> (String, [RESPValue])? {
    guard case .array(let items?) = push, let kind = items.first?.string else {
      if case .error(let message) = push { throw .refused(message) }
      if case .simpleString("PONG") = push { return nil }
      throw .protocolViolation("unexpected push on the subscribing connection: \(push)")
    }
    return (kind, items)
  }

  // MARK: RedisNodeDelegate

  func nodeConnected(_ node: RedisNode, lostFor: Duration?) {
    state.withLock { $0.delegate }?.routerConnected(node.endpoint, lostFor: lostFor)
  }

  func nodeDisconnected(_ node: RedisNode, error: PubSubError, channels: [[UInt8]]) {
    state.withLock { $0.delegate }?.routerDisconnected(node.endpoint, error: error, channels: channels)
    refresh()
  }

  func node(_ node: RedisNode, received push: RESPValue) throws(PubSubError) {
    // A subscription the server dropped (its slot moved) or refused (MOVED): follow the new map.
    if case .error(let message) = push, RedisClusterSlot.Redirection(message) != nil {
      refresh(resubscribing: true)
      return
    }
    if isCluster, case .array(let items?) = push, items.first?.string == "sunsubscribe", items.count >= 2,
      let channel = items[1].bytes, state.withLock({ $0.channels[channel] != nil })
    {
      node.unsubscribe(channel, sendCommand: false)
      state.withLock { $0.channels[channel] = .some(nil) }
      refresh(resubscribing: true)
      return
    }
    try state.withLock { $0.delegate }?.routerReceived(push)
  }

  func node(_ node: RedisNode, redirect request: RedisRequest, error: String) -> Bool {
    guard isCluster else { return false }
    if let redirection = RedisClusterSlot.Redirection(error) {
      let endpoint = Endpoint.host(redirection.host, port: redirection.port)
      if redirection.isAsk {
        var asking = request
        asking.command = RedisNode.command("ASKING") + request.command
        asking.replies = request.replies + 1
        let target = state.withLock { self.node(for: endpoint, in: &$0) }
        target.send(asking)
        return true
      }
      // MOVED: this request and every later one of the slot go to the new owner, in order.
      state.withLock { state in
        if state.owners.count == RedisClusterSlot.count { state.owners[redirection.slot] = endpoint }
        let later = node.takeRequests { $0 == redirection.slot }
        for next in [request] + later { dispatch(next, in: &state) }
      }
      refresh()
      return true
    }
    guard error.hasPrefix("TRYAGAIN") || error.hasPrefix("CLUSTERDOWN") || error.hasPrefix("LOADING"),
      let slot = request.slot, request.retries < 100
    else { return false }
    // The slot waits: this request and every later one of it are taken back and sent again together, in order.
    var retry = request
    retry.retries += 1
    let first = state.withLock { state -> Bool in
      let later = node.takeRequests { $0 == slot }
      let first = state.held[slot] == nil
      state.held[slot] = [retry] + later + (state.held[slot] ?? [])
      return first
    }
    if first {
      Task(executorPreference: loop) {
        try? await Task.sleep(for: .milliseconds(50))
        self.state.withLock { state in
          for request in state.held.removeValue(forKey: slot) ?? [] { self.dispatch(request, in: &state) }
        }
      }
    }
    return true
  }
}
