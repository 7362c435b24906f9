import Testing
import WispCommon
import WispLinuxPlatform

@Suite("README client example", .serialized)
struct ReadmeClientExampleTests {
  @Test("the README's client example runs against an echo server")
  func clientExample() async throws {
    try await withPythonEchoServer { port in
      let url = "ws://127.0.0.1:\(port)/echo"
      var printed: [String] = []
      func print(_ text: String) { printed.append(text) }

      // The README's example, verbatim but for the URL and print.
      let client = HttpClient(LinuxEngine()) { $0.install(WebSockets.self) { $0.pingInterval = .seconds(20) } }
      try await client.webSocket(url) { session in
        try await session.send("Hello")
        print(try await session.incoming.receive().readText())
      }

      #expect(printed == ["Hello"])
    }
  }
}
