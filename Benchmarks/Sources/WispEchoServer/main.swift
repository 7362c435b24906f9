// The echo server written with Wisp, as the benchmarks run it: one event-loop thread, every message echoed as
// the same type. Usage: wisp-echo-server PORT [--compress] [--tls-cert CERT.pem --tls-key KEY.pem]
import Wisp

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 9001 : 9001
let compress = arguments.contains("--compress")
/// The value after `flag`, if any.
func option(_ flag: String) -> String? {
  guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
  return arguments[index + 1]
}
// wss:// with the certificate and key wsload's TLS server takes (its defaults otherwise: TLS 1.2 and 1.3).
let tls = option("--tls-cert").flatMap { certificate in
  option("--tls-key").map { TLSServerConfiguration(certificateChainFile: certificate, privateKeyFile: $0) }
}
var application = Application()
application.install(WebSockets.self) { config in
  config.maxFrameSize = 64 << 20
  config.maxMessageSize = 64 << 20
  if compress { config.extensions { $0.install(WebSocketDeflateExtension.self) } }
}
application.routing { routing in
  routing.webSocket("/{path...}") { session in
    for try await frame in session.incoming { try await session.send(frame) }
  }
}
let group = try EventLoopGroup(loopCount: 1)
let server = EmbeddedServer(application, configuration: .init(endpoint: .host("127.0.0.1", port: port), tls: tls, group: group))
try await server.start()
print("wisp-echo-server listening on \(port)")
while true { try await Task.sleep(for: .seconds(3600)) }
