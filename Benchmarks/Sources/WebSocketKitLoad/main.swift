// Vapor's websocket-kit as a load client: CONNS connections, WINDOW messages in flight each, one NIO thread.
import LoadSupport
import NIOCore
import NIOPosix
import Synchronization
import WebSocketKit

let arguments = LoadArguments()
let recorder = LoadRecorder(arguments)
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let payload = arguments.payload

/// Send times of one connection; touched only on its event loop.
final class InFlight: @unchecked Sendable {
  var sentAt: [UInt64] = []
  var head = 0
  var tally = recorder.makeTally()
}

await withTaskGroup(of: Void.self) { tasks in
  for _ in 0..<arguments.connections {
    tasks.addTask {
      do {
        try await WebSocket.connect(
          to: arguments.url, configuration: .init(maxFrameSize: 64 << 20), on: group
        ) { socket in
          let inFlight = InFlight()
          socket.onBinary { socket, _ in
            let now = LoadClock.now()
            let running = inFlight.tally.record(sentAt: inFlight.sentAt[inFlight.head], at: now)
            inFlight.head += 1
            if running {
              inFlight.sentAt.append(now)
              socket.send(payload)
            } else if inFlight.head == inFlight.sentAt.count {
              inFlight.tally.finish()
              _ = socket.close()
            }
          }
          for _ in 0..<arguments.window {
            inFlight.sentAt.append(LoadClock.now())
            socket.send(payload)
          }
        }.get()
      } catch {
        print("connection failed: \(error)")
      }
    }
  }
}
try await Task.sleep(for: .milliseconds(Int((arguments.warmup + arguments.seconds) * 1000) + 500))
recorder.report(arguments)
