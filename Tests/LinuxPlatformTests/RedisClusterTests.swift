import Glibc
import Synchronization
import Testing
import WispCommon
import WispLinuxPlatform

/// Issue 36: a three-master Redis Cluster of Debian's redis-server on loopback ports of the test's own (appendonly,
/// in a directory of the test's own), three `ws serve --pubsub redis+cluster://... --history` processes, rooms
/// spread over the shards, and a master killed and restarted mid-run.
@Suite("Fan-out on a Redis Cluster", .serialized)
struct RedisClusterTests {
  static let redisCLI = "/usr/bin/redis-cli"

  /// A cluster of three masters (no replicas); returns their ports and pids.
  static func startCluster(directory: String) async throws -> [(port: Int, pid: pid_t)] {
    var nodes: [(port: Int, pid: pid_t)] = []
    for index in 0..<3 {
      nodes.append(try await startNode(directory: directory + "/\(index)"))
    }
    let create = spawn(
      [redisCLI, "--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + [
        "--cluster-replicas", "0", "--cluster-yes",
      ])
    var status: Int32 = 0
    waitpid(create, &status, 0)
    let ready = await waitUntil(.seconds(20)) {
      for node in nodes {
        guard let info = await RedisPubSubTests.redisReply(node.port, command: ["CLUSTER", "INFO"]),
          info.contains("cluster_state:ok")
        else { return false }
      }
      return true
    }
    guard ready else { throw TransportError.timedOut(operation: "forming the Redis Cluster", limit: .seconds(20)) }
    return nodes
  }

  /// One cluster node in `directory` (kept across restarts: its nodes.conf, its data and its bus port), on `port`
  /// when it is restarted, else on a port of its own. A restarted node loads its append-only file before it answers.
  ///
  /// The cluster bus port is chosen like the client port (by default Redis takes the client port + 10,000, which
  /// may lie in the kernel's ephemeral range, where an outgoing connection of the suite can hold it: Redis then
  /// listens on its client port and exits).
  static func startNode(port: Int? = nil, directory: String) async throws -> (port: Int, pid: pid_t) {
    mkdir(directory, 0o755)
    let busPortFile = directory + "/bus-port"
    let kept = Int(await shell("cat '\(busPortFile)' 2>/dev/null").output.filter(\.isNumber))
    return try await RedisPubSubTests.startAnswering(port: port) { chosen in
      // A restart keeps its bus port; each attempt of a first start takes a new one.
      var busPort = kept ?? 0
      if port == nil || kept == nil {
        busPort = try await LoopbackDaemons.freePort()
        _ = await shell("echo \(busPort) > '\(busPortFile)'")
      }
      return spawn([
        RedisPubSubTests.redisServer, "--port", "\(chosen)", "--bind", "127.0.0.1", "--cluster-enabled", "yes",
        "--cluster-port", "\(busPort)", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
        "--dir", directory, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no",
      ])
    }
  }

  /// The node ID of the server on `port`.
  static func nodeID(_ port: Int) async -> String? {
    guard let reply = await RedisPubSubTests.redisReply(port, command: ["CLUSTER", "MYID"]) else { return nil }
    var parser = RESPParser()
    guard (try? parser.append(Array(reply.utf8))) != nil, let value = try? parser.next() else { return nil }
    return value.string
  }

  /// Moves `slot` with its keys from the master on `source` to the one on `target`, as `redis-cli --cluster
  /// reshard` does for each slot.
  static func moveSlot(_ slot: Int, from source: Int, to target: Int, nodes: [Int]) async throws {
    let sourceID = try #require(await nodeID(source))
    let targetID = try #require(await nodeID(target))
    _ = await RedisPubSubTests.redisReply(target, command: ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
    _ = await RedisPubSubTests.redisReply(source, command: ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID])
    for _ in 0..<100 {
      guard
        let reply = await RedisPubSubTests.redisReply(source, command: ["CLUSTER", "GETKEYSINSLOT", "\(slot)", "100"])
      else { break }
      var parser = RESPParser()
      guard (try? parser.append(Array(reply.utf8))) != nil, case .array(let keys?)? = try? parser.next(),
        !keys.isEmpty
      else { break }
      let names = keys.compactMap(\.string)
      let migrated = await RedisPubSubTests.redisReply(
        source, command: ["MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS"] + names)
      #expect(migrated?.hasPrefix("+OK") == true, "MIGRATE: \(String(describing: migrated))")
    }
    for port in nodes {
      _ = await RedisPubSubTests.redisReply(port, command: ["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID])
    }
  }

  /// The port of the master that owns `slot`, from `CLUSTER SLOTS` on `port`.
  static func owner(of slot: Int, asking port: Int) async -> Int? {
    guard let slots = await RedisPubSubTests.redisReply(port, command: ["CLUSTER", "SLOTS"]) else { return nil }
    var parser = RESPParser()
    guard (try? parser.append(Array(slots.utf8))) != nil, case .array(let ranges?)? = try? parser.next() else {
      return nil
    }
    for range in ranges {
      guard case .array(let fields?) = range, fields.count >= 3, case .integer(let start) = fields[0],
        case .integer(let end) = fields[1], case .array(let master?) = fields[2], master.count >= 2,
        case .integer(let owner) = master[1]
      else { continue }
      if (Int(start)...Int(end)).contains(slot) { return Int(owner) }
    }
    return nil
  }

  /// At least `count` rooms whose channels fall on all three masters, and each one's owner.
  static func rooms(count: Int, asking port: Int, channel: (String) -> String) async -> ([String], [Int]) {
    var rooms: [String] = []
    var owners: [Int] = []
    var candidate = 0
    while Set(owners).count < 3 || rooms.count < count, candidate < 1000 {
      let room = "/room\(candidate)"
      candidate += 1
      let slot = RedisClusterSlot.of(Array(channel(room).utf8))
      guard let owner = await Self.owner(of: slot, asking: port) else { continue }
      if rooms.count < count || !owners.contains(owner) {
        rooms.append(room)
        owners.append(owner)
      }
    }
    #expect(Set(owners).count == 3, "the rooms cover the three shards")
    return (rooms, owners)
  }

  @Test(
    "sharded pub/sub without history: every message of every room reaches the other process's clients; a channel lives on its shard only"
  )
  func clusterPubSub() async throws {
    try #require(
      RedisPubSubTests.available && WsCommandTests.available && access(Self.redisCLI, X_OK) == 0,
      "redis-server, redis-cli (Debian) and ws are needed")
    let directory = try RedisStreamsTests.temporaryDirectory()
    let nodes = try await Self.startCluster(directory: directory)
    defer { for node in nodes { terminate(node.pid) } }
    let (rooms, owners) = await Self.rooms(count: 3, asking: nodes[0].port) { "wisp:\($0)" }
    let url = "redis+cluster://127.0.0.1:\(nodes[1].port)"
    let serve = [wsBinary, "serve", "--port", "0", "--port-file", portFilePlaceholder, "--pubsub", url]
    let first = try await startServerProcess(serve)
    defer { terminate(first.pid) }
    let second = try await startServerProcess(serve)
    defer { terminate(second.pid) }
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    for (room, owner) in zip(rooms, owners) {
      let sender = try await client.webSocketSession("ws://127.0.0.1:\(first.port)\(room)")
      let receiver = try await client.webSocketSession("ws://127.0.0.1:\(second.port)\(room)")
      try await RedisPubSubTests.probeUntilReceived(from: sender, to: receiver)
      for node in nodes {
        let reply =
          await RedisPubSubTests.redisReply(node.port, command: ["PUBSUB", "SHARDNUMSUB", "wisp:\(room)"]) ?? ""
        #expect(
          reply.hasSuffix(node.port == owner ? ":2\r\n" : ":0\r\n"),
          "\(room) on \(node.port): \(reply.debugDescription)")
      }
      for index in 0..<200 { try await sender.send(.binary(FanoutTests.message(index, size: 64).payload)) }
      var indices: [Int] = []
      try await RedisPubSubTests.collect(receiver, into: &indices, until: 199)
      #expect(indices.count == 200 && indices.elementsEqual(0..<200), "\(room): \(indices.count) messages")
      _ = try await sender.close()
      _ = try await receiver.close()
    }
  }

  /// What happens to the master of the first room halfway through.
  enum Disruption: String, Sendable, CustomTestStringConvertible {
    /// SIGKILL, then started again with its data (nodes.conf and the append-only file).
    case restartMaster
    /// Its slot moves to another master with its keys (`CLUSTER SETSLOT` IMPORTING/MIGRATING, `MIGRATE`, then
    /// `SETSLOT NODE` everywhere): `ASK` while it moves, `MOVED` after, the channel's subscribers dropped by the old
    /// owner.
    case moveSlot

    var testDescription: String { rawValue }
  }

  @Test(
    "three masters, three ws serve, rooms on every shard; a master restarted, or a slot moved, mid-run: every subscriber gets every message exactly once, in order",
    arguments: [Disruption.restartMaster, .moveSlot])
  func clusterFanout(disruption: Disruption) async throws {
    try #require(
      RedisPubSubTests.available && WsCommandTests.available && access(Self.redisCLI, X_OK) == 0,
      "redis-server, redis-cli (Debian) and ws are needed")
    let directory = try RedisStreamsTests.temporaryDirectory()
    var nodes = try await Self.startCluster(directory: directory)
    defer { for node in nodes { terminate(node.pid) } }
    let (rooms, owners) = await Self.rooms(count: 6, asking: nodes[0].port) { "wisp:{\($0)}" }
    let url = "redis+cluster://" + nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    var servers: [(port: Int, pid: pid_t)] = []
    for _ in 0..<3 {
      servers.append(
        try await startServerProcess([
          wsBinary, "serve", "--port", "0", "--port-file", portFilePlaceholder, "--pubsub", url, "--history", "100000",
        ]))
    }
    defer { for server in servers { terminate(server.pid) } }
    let client = HttpClient(LinuxEngine(group: testGroup)) { $0.install(WebSockets.self) }
    // One subscriber per room on every server; the publisher of each room on the first.
    var subscribers: [(room: Int, session: DefaultClientWebSocketSession, log: RedisStreamsTests.Received)] = []
    for (index, room) in rooms.enumerated() {
      for server in servers {
        let session = try await client.webSocketSession("ws://127.0.0.1:\(server.port)\(room)?since=")
        subscribers.append((index, session, RedisStreamsTests.Received()))
      }
    }
    let readers = subscribers.map { subscriber in
      Task {
        while let frame = try? await subscriber.session.connection.receive() { subscriber.log.record(frame) }
      }
    }
    var publishers: [DefaultClientWebSocketSession] = []
    for room in rooms {
      publishers.append(try await client.webSocketSession("ws://127.0.0.1:\(servers[0].port)\(room)"))
    }
    let live = try await RedisStreamsTests.probeUntil(from: publishers) {
      !subscribers.contains { $0.log.probes == 0 }
    }
    #expect(live, "every subscriber's feed went live")
    // Sharded pub/sub: a room's channel is subscribed on its shard only.
    let channel = "wisp:{\(rooms[0])}"
    for node in nodes {
      let reply = await RedisPubSubTests.redisReply(node.port, command: ["PUBSUB", "SHARDNUMSUB", channel]) ?? ""
      let expected = node.port == owners[0] ? ":3" : ":0"
      #expect(reply.hasSuffix("\(expected)\r\n"), "node \(node.port): \(reply.debugDescription)")
    }
    let count = 2000
    let victim = nodes.firstIndex { $0.port == owners[0] }!
    for index in 0..<count {
      for publisher in publishers { try await publisher.send(.text("n\(index)")) }
      // Pacing, not a wait: the run lasts long enough for the disruption to land mid-stream.
      if index % 50 == 49 { try await Task.sleep(for: .milliseconds(20)) }
      if index == count / 2 {
        switch disruption {
        case .restartMaster:
          kill(nodes[victim].pid, SIGKILL)
          var status: Int32 = 0
          waitpid(nodes[victim].pid, &status, 0)
          // The outage itself: the master stays down while messages are published.
          try await Task.sleep(for: .milliseconds(300))
          nodes[victim].pid = try await Self.startNode(port: nodes[victim].port, directory: directory + "/\(victim)")
            .pid
        case .moveSlot:
          let slot = RedisClusterSlot.of(Array("wisp:{\(rooms[0])}".utf8))
          let target = nodes[(victim + 1) % nodes.count].port
          try await Self.moveSlot(slot, from: nodes[victim].port, to: target, nodes: nodes.map(\.port))
          #expect(await Self.owner(of: slot, asking: nodes[0].port) == target, "the slot moved")
        }
      }
    }
    let done = await waitUntil(.seconds(60)) { subscribers.allSatisfy { $0.log.numbers.last == count - 1 } }
    #expect(done, "every subscriber got the last message within 60 s")
    for subscriber in subscribers {
      let numbers = subscriber.log.numbers
      let firstWrong = zip(numbers, 0..<count).first { $0.0 != $0.1 }
      #expect(
        numbers.count == count && firstWrong == nil,
        "\(rooms[subscriber.room]): \(numbers.count) messages, first out of place \(String(describing: firstWrong))")
      #expect(subscriber.log.gaps.isEmpty)
    }
    for publisher in publishers { _ = try? await publisher.close() }
    for subscriber in subscribers { _ = try? await subscriber.session.close() }
    for reader in readers { reader.cancel() }
  }
}
