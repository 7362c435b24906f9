// hummingbird-websocket echo server for the benchmarks: one NIO thread, every message echoed as the same type.
// Usage: hummingbird-echo-server PORT [--compress]
import Hummingbird
import HummingbirdWSCompression
import HummingbirdWebSocket
import NIOPosix

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 9001 : 9001
let compress = arguments.contains("--compress")
let router = Router(context: BasicWebSocketRequestContext.self)
router.ws("/") { _, _ in
  .upgrade([:])
} onUpgrade: { inbound, outbound, _ in
  for try await message in inbound.messages(maxSize: 64 << 20) {
    switch message {
    case .text(let text): try await outbound.write(.text(text))
    case .binary(let buffer): try await outbound.write(.binary(buffer))
    }
  }
}
let app = Application(
  router: Router(),
  server: .http1WebSocketUpgrade(
    webSocketRouter: router,
    configuration: .init(maxFrameSize: 64 << 20, extensions: compress ? [.perMessageDeflate()] : [])),
  configuration: .init(address: .hostname("127.0.0.1", port: port)),
  eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1))
)
try await app.runService()
