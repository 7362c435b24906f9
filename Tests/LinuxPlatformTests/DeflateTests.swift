import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// A client-side state machine with permessage-deflate negotiated from `response` (default: no parameters).
func deflateClientMachine(
  _ response: ExtensionOffer = ExtensionOffer(name: "permessage-deflate"),
  configure: (inout PerMessageDeflateConfig) -> Void = { _ in }
) throws -> ConnectionStateMachine {
  var config = WebSocketDeflateExtension.defaultConfig()
  configure(&config)
  let ext = try PerMessageDeflateFactory(config: config).clientAccept(response)
  return ConnectionStateMachine(configuration: .init(role: .client), extensions: [ext])
}

/// The text of every message event in `events`.
func texts(_ events: [ConnectionEvent]) -> [String] {
  events.compactMap { event in
    guard case .frame(let frame) = event else { return nil }
    return try? frame.readText()
  }
}

@Suite("RFC 7692 permessage-deflate on zlib")
struct DeflateTests {
  @Test("7.2.3.1: a single compressed frame of \"Hello\"")
  func helloSingleFrame() throws {
    var machine = try deflateClientMachine()
    #expect(texts(machine.receive([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])) == ["Hello"])
  }

  @Test("7.2.3.1: \"Hello\" compressed and fragmented; RSV1 on the first frame only")
  func helloFragmented() throws {
    var machine = try deflateClientMachine()
    let events = machine.receive([0x41, 0x03, 0xF2, 0x48, 0xCD] + [0x80, 0x04, 0xC9, 0xC9, 0x07, 0x00])
    #expect(texts(events) == ["Hello"])
  }

  @Test("7.2.3.2: two messages sharing the LZ77 window (context takeover)")
  func sharedWindow() throws {
    var machine = try deflateClientMachine()
    let first: [UInt8] = [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]
    let second: [UInt8] = [0xC1, 0x05, 0xF2, 0x00, 0x11, 0x00, 0x00]
    #expect(texts(machine.receive(first + second)) == ["Hello", "Hello"])
  }

  @Test("7.2.3.3 and 7.2.3.4: a stored (uncompressed) block, and a block with BFINAL set")
  func storedAndFinalBlocks() throws {
    var stored = try deflateClientMachine()
    let storedFrame: [UInt8] = [0xC1, 0x0B, 0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]
    #expect(texts(stored.receive(storedFrame)) == ["Hello"])
    var final = try deflateClientMachine()
    let finalFrame: [UInt8] = [0xC1, 0x08, 0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]
    #expect(texts(final.receive(finalFrame + finalFrame)) == ["Hello", "Hello"])
  }

  @Test("7.2.3.6: an empty compressed message")
  func emptyMessage() throws {
    var machine = try deflateClientMachine()
    #expect(texts(machine.receive([0xC1, 0x01, 0x00])) == [""])
  }

  @Test("our compressor produces the RFC's bytes: Hello, then Hello with the shared window; reset without takeover")
  func compressorBytes() throws {
    let serverConfig = WebSocketDeflateExtension.defaultConfig()
    let (_, serverExtension) = try #require(
      PerMessageDeflateFactory(config: serverConfig).serverAccept([ExtensionOffer(name: "permessage-deflate")]))
    var server = ConnectionStateMachine(configuration: .init(role: .server), extensions: [serverExtension])
    try server.send(.text("Hello"))
    try server.send(.text("Hello"))
    #expect(
      server.takeOutput() == [
        0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0xC1, 0x05, 0xF2, 0x00, 0x11, 0x00, 0x00,
      ])
    let offer = ExtensionOffer(name: "permessage-deflate", parameters: [.init(name: "server_no_context_takeover")])
    let (response, resetting) = try #require(PerMessageDeflateFactory(config: serverConfig).serverAccept([offer]))
    #expect(response.description == "permessage-deflate; server_no_context_takeover")
    var noTakeover = ConnectionStateMachine(configuration: .init(role: .server), extensions: [resetting])
    try noTakeover.send(.text("Hello"))
    try noTakeover.send(.text("Hello"))
    #expect(
      noTakeover.takeOutput() == [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00] + [
        0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00,
      ])
  }

  @Test("RSV1 on a continuation frame, or on a control frame, fails with 1002; corrupt data with 1007")
  func badFrames() throws {
    var continuation = try deflateClientMachine()
    let events = continuation.receive([0x41, 0x03, 0xF2, 0x48, 0xCD] + [0xC0, 0x04, 0xC9, 0xC9, 0x07, 0x00])
    guard case .failed(let violation) = events.last else {
      Issue.record("expected a failure, got \(events)")
      return
    }
    #expect(violation.closeCode == .protocolError)
    var control = try deflateClientMachine()
    guard case .failed(let pingViolation) = control.receive([0xC9, 0x00]).last else {
      Issue.record("RSV1 on a ping must fail")
      return
    }
    #expect(pingViolation.closeCode == .protocolError)
    var corrupt = try deflateClientMachine()
    guard case .failed(let dataViolation) = corrupt.receive([0xC1, 0x03, 0xFF, 0xFF, 0xFF]).last else {
      Issue.record("corrupt data must fail")
      return
    }
    #expect(dataViolation.closeCode == .invalidPayload)
  }

  @Test("a fragmented compressed message round-trips across many frames, text and binary, with window bits 8")
  func roundTripWindows() throws {
    for bits in [8, 9, 12, 15] {
      let offer = ExtensionOffer(
        name: "permessage-deflate",
        parameters: [.init(name: "server_max_window_bits", value: "\(bits)"), .init(name: "client_max_window_bits")])
      var serverConfig = WebSocketDeflateExtension.defaultConfig()
      serverConfig.clientMaxWindowBits = bits
      let (response, serverExtension) = try #require(
        PerMessageDeflateFactory(config: serverConfig).serverAccept([offer]))
      var server = ConnectionStateMachine(configuration: .init(role: .server), extensions: [serverExtension])
      var client = try deflateClientMachine(response) { $0.serverMaxWindowBits = bits }
      let text = String(repeating: "The quick brown fox jumps over the lazy dog. κόσμε ", count: 400)
      let bytes = Array(text.utf8)
      // Server to client: 37 fragments.
      var offset = 0
      while offset < bytes.count {
        let end = min(bytes.count, offset + 555)
        try server.send(.text(bytes: Array(bytes[offset..<end]), fin: end == bytes.count))
        offset = end
      }
      try server.send(.binary(pattern(100_000)))
      let received = client.receive(server.takeOutput())
      #expect(texts(received) == [text], "window bits \(bits)")
      #expect(received.count == 2)
      if case .frame(let binary)? = received.last { #expect(binary.data == pattern(100_000)) }
      // Client to server.
      try client.send(.text(text))
      #expect(texts(server.receive(client.takeOutput())) == [text], "window bits \(bits)")
    }
  }

  @Test("a decompression bomb (256 KiB inflating to 256 MiB) is refused with 1009 without allocating the excess")
  func bomb() throws {
    // 256 MiB of zeros compressed: zlib's best ratio is about 1000:1, so about 256 KiB of input.
    let compressor = try ZlibDeflateCodec().makeCompressor(windowBits: 15, level: 9)
    var compressed: [UInt8] = []
    let zeros = [UInt8](repeating: 0, count: 1 << 20)
    for _ in 0..<256 { compressed += try compressor.compressAndSyncFlush(zeros) }
    var machine = try deflateClientMachine()
    var frame: [UInt8] = [0xC2, 127]
    for shift in stride(from: 56, through: 0, by: -8) {
      frame.append(UInt8(truncatingIfNeeded: compressed.count >> shift))
    }
    frame += compressed
    let before = residentBytes()
    let events = machine.receive(frame)
    let grown = residentBytes() - before
    guard case .failed(let violation) = events.last else {
      Issue.record("a bomb must fail, got \(events)")
      return
    }
    #expect(violation.closeCode == .tooBig)
    #expect(grown < 64 << 20, "resident memory grew by \(grown >> 20) MiB")
  }
}

@Suite("permessage-deflate under Ktor's names")
struct DeflateKtorNamesTests {
  @Test("maxInflatedFrameSize: a frame that inflates past it fails with 1009 though the message limit is larger")
  func maxInflatedFrameSize() throws {
    let compressor = try ZlibDeflateCodec().makeCompressor(windowBits: 15, level: 9)
    let compressed = try compressor.compressAndSyncFlush([UInt8](repeating: 0, count: 64 * 1024))
    for (cap, fails) in [(1024, true), (1 << 20, false)] {
      var machine = try deflateClientMachine { $0.maxInflatedFrameSize = cap }
      // One final binary frame with RSV1, the payload without the 0x00 0x00 0xff 0xff tail (RFC 7692 7.2.1).
      let payload = Array(compressed.dropLast(4))
      var frame: [UInt8] =
        payload.count < 126
        ? [0xC2, UInt8(payload.count)] : [0xC2, 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
      frame += payload
      let events = machine.receive(frame)
      if fails {
        guard case .failed(let violation) = events.last else {
          Issue.record("past maxInflatedFrameSize must fail, got \(events)")
          continue
        }
        #expect(violation.closeCode == .tooBig, "\(violation)")
      } else {
        #expect(events.count == 1 && texts(events).isEmpty, "\(events)")
      }
    }
  }

  @Test("clientNoContextTakeOver and serverNoContextTakeOver are the RFC parameters under Ktor's spelling")
  func contextTakeoverNames() throws {
    var config = WebSocketDeflateExtension.defaultConfig()
    config.clientNoContextTakeOver = true
    config.serverNoContextTakeOver = true
    config.compressIfBiggerThan(100)
    #expect(config.clientNoContextTakeover && config.serverNoContextTakeover)
    let offers = PerMessageDeflateFactory(config: config).clientOffers()
    let parameters = offers.first.map { $0.parameters.map(\.name) } ?? []
    #expect(parameters.contains("client_no_context_takeover") && parameters.contains("server_no_context_takeover"))
    #expect(config.compressionPredicates.count == 1)
  }
}

/// The process's resident set size, from /proc/self/statm.
func residentBytes() -> Int {
  guard let file = fopen("/proc/self/statm", "r") else { return 0 }
  defer { fclose(file) }
  var size = 0
  var resident = 0
  _ = withUnsafeMutablePointer(to: &size) { sizePointer in
    withUnsafeMutablePointer(to: &resident) { residentPointer in
      withVaList([sizePointer, residentPointer]) { vfscanf(file, "%ld %ld", $0) }
    }
  }
  return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@Suite("permessage-deflate in the in-memory test host")
struct DeflateTestHostTests {
  @Test("the test host negotiates permessage-deflate (Ktor's test engine cannot) and the raw route passes RSV1")
  func testHostNegotiates() async throws {
    var application = Application()
    application.install(WebSockets.self) { config in
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
    }
    application.routing { routing in
      routing.webSocket("/echo") { session in
        try await session.send(session.extensions.map(\.name).joined(separator: ","))
        for try await frame in session.incoming { try await session.send(frame) }
      }
      routing.webSocketRaw("/raw", negotiateExtensions: true) { session in
        let frame = try await session.incoming.receive()
        try await session.send(.text(frame.rsv1 ? "compressed \(frame.data.count) bytes" : "plain"))
      }
    }
    try await testApplication(application) { config in
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
    } _: { host in
      try await host.client.webSocket("ws://localhost/echo") { session in
        #expect(try await session.incoming.receive().readText() == "permessage-deflate")
        let text = String(repeating: "compress me ", count: 1000)
        try await session.send(text)
        #expect(try await session.incoming.receive().readText() == text)
      }
      try await host.client.webSocket("ws://localhost/raw") { session in
        try await session.send(String(repeating: "a", count: 10_000))
        let answer = try await session.incoming.receive().readText()
        #expect(answer.hasPrefix("compressed") && answer != "compressed 10000 bytes", "\(answer)")
      }
    }
  }
}

@Suite("permessage-deflate interop with Python's websockets")
struct DeflateInteropTests {
  /// Parameter combinations, as the Python factories take them. zlib cannot compress with a 256-byte window, so
  /// the side that compresses cannot be Python's with 8 bits: the client test asks our server for
  /// `server_max_window_bits=8`, the server test has Python ask our client for `client_max_window_bits=8`.
  static let common: [[String]] = [
    [],
    ["server_no_context_takeover"],
    ["client_no_context_takeover"],
    ["server_no_context_takeover", "client_no_context_takeover"],
    ["server_max_window_bits=10"],
    ["server_max_window_bits=15", "client_max_window_bits=15", "client_no_context_takeover"],
  ]
  static let clientCombinations =
    common + [["server_max_window_bits=8"], ["server_max_window_bits=8", "client_max_window_bits=9"]]
  static let serverCombinations =
    common + [["client_max_window_bits=8"], ["client_max_window_bits=9", "server_max_window_bits=12"]]

  /// An echo application with deflate installed.
  static func deflateEchoApplication() -> Application {
    var application = interopApplication()
    application.install(WebSockets.self) { config in
      config.extensions { $0.install(WebSocketDeflateExtension.self) }
    }
    return application
  }

  @Test("Python client with each parameter combination against our server", arguments: clientCombinations)
  func pythonClient(parameters: [String]) async throws {
    try #require(PythonInteropTests.available, "Python websockets is missing: run ./scripts/test")
    try await withServer(Self.deflateEchoApplication()) { _, port in
      let arguments = parameters.map { "'\($0)'" }.joined(separator: " ")
      let result = await shell(
        "'\(venvPython)' '\(fixtures)deflate_client.py' ws://127.0.0.1:\(port)/echo \(arguments) 2>&1")
      #expect(result.output.hasPrefix("ok permessage-deflate"), "python said: \(result.output)")
    }
  }

  @Test("our client with each parameter combination against a Python server", arguments: serverCombinations)
  func pythonServer(parameters: [String]) async throws {
    try #require(PythonInteropTests.available, "Python websockets is missing: run ./scripts/test")
    let (port, pid) = try await startServerProcess(
      [venvPython, fixtures + "deflate_server.py", portFilePlaceholder] + parameters)
    defer { terminate(pid) }
    let deflateClient = HttpClient(engine) { config in
      config.install(WebSockets.self) { plugin in
        plugin.extensions {
          $0.install(WebSocketDeflateExtension.self) { deflate in
            for parameter in parameters {
              let parts = parameter.split(separator: "=")
              switch parts[0] {
              case "server_no_context_takeover": deflate.serverNoContextTakeover = true
              case "client_no_context_takeover": deflate.clientNoContextTakeover = true
              case "server_max_window_bits": deflate.serverMaxWindowBits = Int(parts[1])
              default: deflate.clientMaxWindowBits = Int(parts[1])
              }
            }
          }
        }
      }
    }
    let header = try await deflateClient.webSocket("ws://127.0.0.1:\(port)/header") { session in
      let header = try await session.incoming.receive().readText()
      #expect(session.extensions.map(\.name) == ["permessage-deflate"])
      let text = String(repeating: "The quick brown fox jumps over the lazy dog. κόσμε ", count: 500)
      for _ in 0..<3 {
        try await session.send(text)
        #expect(try await session.incoming.receive().readText() == text)
      }
      let bytes = Array(text.utf8)
      var offset = 0
      while offset < bytes.count {
        let end = min(bytes.count, offset + 300)
        try await session.send(.text(bytes: Array(bytes[offset..<end]), fin: end == bytes.count))
        offset = end
      }
      #expect(try await session.incoming.receive().readText() == text)
      try await session.send(pattern(300_000))
      #expect(try await session.incoming.receive().data == pattern(300_000))
      return header
    }
    #expect(header.hasPrefix("permessage-deflate"), "negotiated: \(header)")
  }
}
