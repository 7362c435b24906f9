import ArgumentParser
import Glibc
import Wisp

/// `ws connect URL`: an interactive client, like `wscat` or `websocat`.
struct Connect: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Connect to a WebSocket server: send standard input's lines, print what arrives.",
    discussion: """
      Each line of standard input is sent as a text message (or binary with --binary, decoded from hex or base64 \
      with --hex or --base64). Received messages are printed as "< text (N bytes): ..." or "< binary (N bytes): \
      HEX". End of input closes with 1000. Exit status: 0 after a normal close, 2 connection refused or host \
      unknown, 3 TLS failure, 4 handshake refused (the HTTP status is printed), 5 the server closed with another \
      code than 1000, 1 anything else.
      """)

  @Argument(help: "ws:// or wss:// URL.")
  var url: String

  @Option(name: .short, help: "A request header, 'Name: value' (repeatable).")
  var header: [String] = []

  @Option(name: .customLong("protocol"), help: "Offer this subprotocol (repeatable).")
  var subprotocols: [String] = []

  @Flag(help: "Offer permessage-deflate (RFC 7692).")
  var compress = false

  @Option(help: "Ping the server every SECONDS; close with 1011 when the pong does not come back.")
  var ping: Double?

  @Flag(help: "Send each line as a binary message.")
  var binary = false

  @Flag(help: "Binary lines are hexadecimal (\"48 65 6c\" or \"48656c\").")
  var hex = false

  @Flag(help: "Binary lines are base64.")
  var base64 = false

  @Flag(help: "A raw session: print every frame as it arrives, control frames included; no automatic pong.")
  var raw = false

  @Option(name: .customLong("max-message"), help: "The largest message accepted, in bytes.")
  var maxMessage = 64 * 1024 * 1024

  @Option(
    help: ArgumentHelp(
      "Connect through this proxy: http://[user:pass@]host:port (CONNECT), socks5:// or socks5h://. Default: the "
        + "environment (https_proxy, http_proxy, all_proxy, no_proxy); 'direct' ignores it."))
  var proxy: String?

  @Flag(
    help: ArgumentHelp(
      "Reconnect when the connection ends (exponential backoff with jitter, 0.5 s to 30 s); lines typed while "
        + "disconnected are sent after reconnecting (up to 100). Ends at end of input."))
  var reconnect = false

  @OptionGroup var tls: ClientTLSOptions
  @OptionGroup var output: OutputOptions

  func validate() throws {
    if hex && base64 { throw ValidationError("--hex and --base64 exclude each other") }
    if (hex || base64) && !binary { throw ValidationError("--hex and --base64 need --binary") }
    _ = try parseHeaders(header)
    if reconnect && raw { throw ValidationError("--reconnect works with default sessions, not --raw") }
    if let proxy, proxy != "direct", Proxy(url: proxy) == nil {
      throw ValidationError("--proxy: not a proxy URL (http://, socks5:// or socks5h://): \(proxy)")
    }
  }

  func run() async throws {
    let headers = try parseHeaders(header)
    let client = HttpClient(LinuxEngine()) { config in
      config.install(WebSockets.self) { plugin in
        plugin.maxFrameSize = maxMessage
        plugin.maxMessageSize = maxMessage
        plugin.pingInterval = ping.map { .milliseconds(Int($0 * 1000)) }
        if compress { plugin.extensions { $0.install(WebSocketDeflateExtension.self) } }
      }
    }
    let request: (inout HttpRequestBuilder) throws -> Void = { request in
      for (name, value) in headers { request.header(name, value) }
      request.subprotocols = subprotocols
      tls.apply(to: &request.tls)
      if let proxy { request.proxy = proxy == "direct" ? .direct : Proxy(url: proxy).map { .fixed($0) } }
    }
    if reconnect { return await runReconnecting(client: client, headers: headers) }
    let session: any WebSocketSession
    do {
      session =
        raw ? try await client.webSocketRawSession(url, request) : try await client.webSocketSession(url, request)
    } catch {
      let (status, message) = describeConnectFailure(error)
      Console.error("ws connect: \(message)")
      throw ExitCode(status)
    }
    output.note("connected to \(url)")
    if let defaultSession = session as? DefaultClientWebSocketSession {
      output.detail("subprotocol: \(defaultSession.subprotocol ?? "none")")
    }
    output.detail("extensions: \(session.extensions.map(\.name).joined(separator: ", "))")
    let sender = Task { await sendInput(session) }
    var failure: (any Error)?
    do {
      for try await frame in session.incoming { print(frame) }
    } catch {
      failure = error
    }
    sender.cancel()
    let reason = await session.closeReason
    if let failure {
      Console.error("ws connect: the connection failed: \(failure) (close \(reason))")
      throw ExitCode(ExitStatus.failure)
    }
    if reason.code != .normal {
      Console.error("ws connect: closed by the server: \(reason)")
      throw ExitCode(ExitStatus.remoteClosed)
    }
    output.note("closed: \(reason)")
  }

  /// `--reconnect`: a ``ReconnectingWebSocket``; states go to standard error as notes, messages to standard
  /// output; end of input closes.
  private func runReconnecting(client: HttpClient, headers: [(String, String)]) async {
    let tls = self.tls
    let subprotocols = self.subprotocols
    let proxy = self.proxy
    let socket = ReconnectingWebSocket(
      client: client, url: url,
      request: { request in
        for (name, value) in headers { request.header(name, value) }
        request.subprotocols = subprotocols
        tls.apply(to: &request.tls)
        if let proxy { request.proxy = proxy == "direct" ? .direct : Proxy(url: proxy).map { .fixed($0) } }
      })
    let output = self.output
    let states = Task {
      for await state in socket.states { output.note("\(state)") }
    }
    let sender = Task {
      let lines = StandardInputLines()
      while let line = await lines.next() {
        do {
          try await socket.send(binary ? Frame.binary(Array(line.utf8)) : Frame.text(line))
        } catch {
          Console.error("ws connect: not sent: \(error)")
        }
      }
      await socket.close()
    }
    for await frame in socket.incoming { print(frame) }
    _ = await sender.result
    _ = await states.result
  }

  /// Reads standard input on its own thread and sends each line; closes with 1000 at end of input.
  private func sendInput(_ session: any WebSocketSession) async {
    let lines = StandardInputLines()
    while let line = await lines.next() {
      do {
        if binary {
          guard let bytes = hex ? decodeHex(line) : base64 ? decodeBase64(line) : Array(line.utf8) else {
            Console.error("ws connect: cannot decode \"\(line)\" as \(hex ? "hex" : "base64")")
            continue
          }
          try await session.send(bytes)
        } else {
          try await session.send(line)
        }
      } catch {
        return
      }
    }
    _ = try? await session.close(CloseReason(.normal))
  }

  private func print(_ frame: Frame) {
    switch frame.frameType {
    case .text:
      Console.out("< text (\(frame.data.count) bytes): \(String(decoding: frame.data, as: UTF8.self))")
    case .binary:
      Console.out("< binary (\(frame.data.count) bytes): \(hexDump(frame.data))")
    case .close:
      Console.out("< close: \(frame.readReason().map { "\($0)" } ?? "no status")")
    default:
      Console.out("< \(frame.frameType) (\(frame.data.count) bytes): \(hexDump(frame.data))")
    }
  }
}

/// Decodes "48 65 6c" or "48656c"; `nil` when it is not hexadecimal.
func decodeHex(_ text: String) -> [UInt8]? {
  let digits = text.filter { !$0.isWhitespace }
  guard digits.count % 2 == 0 else { return nil }
  var bytes: [UInt8] = []
  var index = digits.startIndex
  while index < digits.endIndex {
    let next = digits.index(index, offsetBy: 2)
    guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
    bytes.append(byte)
    index = next
  }
  return bytes
}

/// Decodes standard base64 (RFC 4648), padding optional; `nil` when it is not base64.
func decodeBase64(_ text: String) -> [UInt8]? {
  let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
  var values: [UInt8: UInt32] = [:]
  for (index, character) in alphabet.enumerated() { values[character] = UInt32(index) }
  var bytes: [UInt8] = []
  var buffer: UInt32 = 0
  var bits = 0
  for character in text.utf8 where character != UInt8(ascii: "=") && character != UInt8(ascii: " ") {
    guard let value = values[character] else { return nil }
    buffer = buffer << 6 | value
    bits += 6
    if bits >= 8 {
      bits -= 8
      bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
    }
  }
  return bytes
}
