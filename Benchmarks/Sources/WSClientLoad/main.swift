// swift-websocket's WSClient as a load client: CONNS connections, WINDOW messages in flight each, one NIO thread.
import LoadSupport
import Logging
import NIOCore
import NIOPosix
import WSClient

let arguments = LoadArguments()
let recorder = LoadRecorder(arguments)
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let logger = Logger(label: "wsclient-load")
let payload = ByteBuffer(bytes: arguments.payload)
await withTaskGroup(of: Void.self) { tasks in
  for _ in 0..<arguments.connections {
    tasks.addTask {
      do {
        _ = try await WebSocketClient.connect(
          url: arguments.url, configuration: .init(maxFrameSize: 64 << 20), eventLoopGroup: group, logger: logger
        ) { inbound, outbound, _ in
          var tally = recorder.makeTally()
          defer { tally.finish() }
          var sentAt: [UInt64] = []
          var head = 0
          for _ in 0..<arguments.window {
            sentAt.append(LoadClock.now())
            try await outbound.write(.binary(payload))
          }
          var messages = inbound.messages(maxSize: 64 << 20).makeAsyncIterator()
          while head < sentAt.count, try await messages.next() != nil {
            let now = LoadClock.now()
            let running = tally.record(sentAt: sentAt[head], at: now)
            head += 1
            if running {
              sentAt.append(now)
              try await outbound.write(.binary(payload))
            }
          }
        }
      } catch {
        print("connection failed: \(error)")
      }
    }
  }
}
recorder.report(arguments)
