import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// Node with Debian's `ws` package (`node-ws`, installed by ./scripts/test).
let nodeModules = "/usr/share/nodejs"

/// An application with the seed echo route at `/` and a plain echo (same type back) at `/echo`.
func interopApplication() -> Application {
  var application = seedEchoApplication()
  application.routing { routing in
    routing.webSocket("/echo") { session in
      for try await frame in session.incoming { try await session.send(frame) }
    }
  }
  return application
}

@Suite("Server and client against Node's ws and Python's websockets")
struct ServerInteropTests {
  static var nodeAvailable: Bool { access(nodeModules + "/ws/package.json", R_OK) == 0 }

  @Test("Python's websockets client completes the echo conversation and the close handshake with our server")
  func pythonClient() async throws {
    try #require(PythonInteropTests.available, "Python websockets is missing: run ./scripts/test")
    try await withServer(interopApplication()) { _, port in
      let result = await shell("'\(venvPython)' '\(fixtures)echo_client.py' ws://127.0.0.1:\(port)/echo 2>&1")
      #expect(result.output.hasPrefix("ok close 1000"), "python said: \(result.output)")
    }
  }

  @Test("Node's ws client completes the seed conversation, a ping, and the server's close on bye")
  func nodeClient() async throws {
    try #require(Self.nodeAvailable, "Node's ws is missing: run ./scripts/test")
    try await withServer(interopApplication()) { _, port in
      let result = await shell(
        "node '\(fixtures)node_echo_client.js' ws://127.0.0.1:\(port)/ 2>&1")
      #expect(result.output.hasPrefix("ok close 1000 Client said BYE"), "node said: \(result.output)")
    }
  }

  @Test("our client against Node's ws echo server: text, 1 MiB binary, fragments, close 1000")
  func nodeServer() async throws {
    try #require(Self.nodeAvailable, "Node's ws is missing: run ./scripts/test")
    let (port, pid) = try await startServerProcess([
      "/usr/bin/node", fixtures + "node_echo_server.js", portFilePlaceholder,
    ])
    defer { terminate(pid) }
    let reason = try await client.webSocket("ws://127.0.0.1:\(port)/") { session in
      try await session.send("hello node")
      #expect(try await session.incoming.receive().readText() == "hello node")
      let payload = pattern(1 << 20)
      try await session.send(payload)
      #expect(try await session.incoming.receive().data == payload)
      try await session.send(.text("frag", fin: false))
      try await session.send(.text("mented", fin: true))
      #expect(try await session.incoming.receive().readText() == "fragmented")
      return try await session.close(CloseReason(.normal, "done"))
    }
    #expect(reason == CloseReason(.normal, "done"))
  }
}
