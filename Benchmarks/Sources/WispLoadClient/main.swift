// The load client written with Wisp: CONNS sessions, WINDOW messages in flight each. Arguments as wsload's.
import LoadSupport
import Wisp

let arguments = LoadArguments()
let group = try EventLoopGroup(loopCount: 1)
let loop = group.loops[0]
let client = HttpClient(LinuxEngine(group: group)) { config in
  config.install(WebSockets.self) { plugin in
    plugin.maxFrameSize = 64 << 20
    plugin.maxMessageSize = 64 << 20
    plugin.incomingCapacity = max(64, arguments.window * 2)
  }
}
let recorder = LoadRecorder(arguments)
let payload = arguments.payload
await withTaskGroup(of: Void.self) { tasks in
  for _ in 0..<arguments.connections {
    // The sessions' code runs on the loop that owns their sockets: no thread hop per message.
    tasks.addTask(executorPreference: loop) {
      do {
        // wss://: the certificate is not verified, as wsload does not verify it (a load tool on loopback; the
        // verification happens once per handshake, outside the measurement).
        let session = try await client.webSocketSession(arguments.url) { $0.tls.verifiesCertificate = false }
        var tally = recorder.makeTally()
        defer { tally.finish() }
        var sentAt: [UInt64] = []
        var head = 0
        var now = LoadClock.now()
        for _ in 0..<arguments.window {
          sentAt.append(now)
          try await session.send(payload)
        }
        while head < sentAt.count {
          // One clock read per wake-up, as wsload reads it once per read: the echoes that arrived together (already
          // queued) share it, and so do the messages sent in answer.
          if await session.incoming.tryReceive() == nil {
            _ = try await session.incoming.receive()
            now = LoadClock.now()
          }
          let running = tally.record(sentAt: sentAt[head], at: now)
          head += 1
          if running {
            sentAt.append(now)
            try await session.send(payload)
          }
          if head > 4096 {
            sentAt.removeFirst(head)
            head = 0
          }
        }
        _ = try? await session.close()
      } catch {
        print("session failed: \(error)")
      }
    }
  }
}
recorder.report(arguments)
