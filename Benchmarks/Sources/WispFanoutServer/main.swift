// The fan-out server written with Wisp, as the fan-out benchmark runs it (issue 19): one event-loop thread;
// sessions on /sub receive every message that the session on /pub sends.
//
//   wisp-fanout-server PORT topics [REDIS-URL [streams]]   Topics.publish (optionally shared through Redis pub/sub,
//                                                          or Redis Streams with a history of 10,000 messages; a
//                                                          redis+cluster:// URL for a Redis Cluster)
//   wisp-fanout-server PORT loop                           a loop of plain `send` calls over the subscribers
import Synchronization
import Wisp

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 9400 : 9400
let mode = arguments.count > 2 ? arguments[2] : "topics"
let redisURL = arguments.count > 3 ? arguments[3] : nil
let streams = arguments.count > 4 && arguments[4] == "streams"

/// The subscribers of the `loop` mode.
final class Subscribers: Sendable {
  let sessions = Mutex<[ObjectIdentifier: DefaultWebSocketServerSession]>([:])
}

let group = try EventLoopGroup(loopCount: 1)
let backend: (any PubSubBackend)? = try redisURL.map { url in
  let configuration = try RedisConfiguration(url: url)
  if streams {
    return RedisStreams(
      configuration, history: TopicHistoryPolicy(TopicHistoryOptions(maxCount: 10_000)), group: group)
  }
  return RedisPubSub(configuration, group: group)
}
let topics = Topics(backend: backend, defaultOptions: SubscriberOptions(queueLimit: 1 << 20, policy: .dropOldest))
let subscribers = Subscribers()
var application = Application()
application.install(WebSockets.self)
application.routing { routing in
  routing.webSocket("/sub") { session in
    if mode == "loop" {
      subscribers.sessions.withLock { $0[ObjectIdentifier(session)] = session }
      defer { _ = subscribers.sessions.withLock { $0.removeValue(forKey: ObjectIdentifier(session)) } }
      for try await _ in session.incoming {}
    } else {
      await topics.subscribe(session, to: "bench")
      for try await _ in session.incoming {}
    }
  }
  routing.webSocket("/pub") { session in
    for try await frame in session.incoming {
      if mode == "loop" {
        for subscriber in subscribers.sessions.withLock({ Array($0.values) }) { try? await subscriber.send(frame) }
      } else if let message = TopicMessage(frame) {
        try? topics.publish(message, to: "bench")
      }
    }
  }
}
let server = EmbeddedServer(application, configuration: .init(endpoint: .host("127.0.0.1", port: port), group: group))
try await server.start()
print("wisp-fanout-server listening on \(port) (\(mode))")
while true { try await Task.sleep(for: .seconds(3600)) }
