import ArgumentParser
import Glibc
import Wisp

/// `ws connect URL`: an interactive client, like `wscat` or `websocat`.
struct Connect: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Connect to a WebSocket server: send standard input's lines, print what arrives.",
    discussion: """
      Each line of standard input is sent as a text message (or binary with --binary, decoded from hex or base64 \
      with --hex or --base64). Each received text message is written to standard output as it is, one per line; \
      binary messages raw, or one line each in hex or base64 with --hex or --base64 (websocat's convention). With \
      --verbose, annotations ("< text (N bytes)", pings, the close) go to standard error, so the command fits a \
      pipe: printf 'a\\nb\\n' | ws connect URL | sort. When standard input is a terminal, /ping [text] pings \
      and /close [code [reason]] closes. End of input closes with 1000. Exit status: 0 after a normal close, 2 \
      connection refused or host unknown, 3 TLS failure, 4 handshake refused (the HTTP status is printed), 5 the \
      server closed with another code than 1000, 1 anything else.
      """)

  @Argument(help: "ws:// or wss:// URL.")
  var url: String

  @Option(name: [.customShort("H"), .customLong("header")], help: "A request header, 'Name: value' (repeatable).")
  var header: [String] = []

  @Option(help: "Send this Origin header (as a browser page of that origin would).")
  var origin: String?

  @Option(name: .customLong("protocol"), help: "Offer this subprotocol (repeatable).")
  var subprotocols: [String] = []

  @Flag(help: "Offer permessage-deflate (RFC 7692).")
  var compress = false

  @Option(help: "Ping the server every SECONDS; close with 1011 when the pong does not come back.")
  var ping: Double?

  @Option(
    name: .customLong("ping-timeout"),
    help: "How long a pong may take, in seconds (default: the ping interval); with --ping.")
  var pingTimeout: Double?

  @Flag(
    name: [.customShort("1"), .customLong("one-message")],
    help: "Send standard input's first line, print the first message that arrives, and close.")
  var oneMessage = false

  @Option(name: .customLong("max-messages"), help: "Close with 1000 after receiving this many messages.")
  var maxMessages: Int?

  @Flag(help: "Send each line as a binary message.")
  var binary = false

  @Flag(help: "Binary messages in hexadecimal, one per line (\"48656c\"), both ways.")
  var hex = false

  @Flag(help: "Binary messages in base64, one per line, both ways.")
  var base64 = false

  @Flag(
    help: "A raw session: every frame as it arrives, control frames included (on standard error); no automatic pong.")
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
    _ = try parseHeaders(header)
    if reconnect && raw { throw ValidationError("--reconnect works with default sessions, not --raw") }
    if reconnect && (oneMessage || maxMessages != nil) {
      throw ValidationError("--reconnect does not combine with -1 or --max-messages")
    }
    if let maxMessages, maxMessages < 1 { throw ValidationError("--max-messages must be at least 1") }
    if let pingTimeout, pingTimeout <= 0 { throw ValidationError("--ping-timeout must be positive") }
    if pingTimeout != nil && ping == nil { throw ValidationError("--ping-timeout needs --ping") }
    if let proxy, proxy != "direct", Proxy(url: proxy) == nil {
      throw ValidationError("--proxy: not a proxy URL (http://, socks5:// or socks5h://): \(proxy)")
    }
  }

  /// Received messages to take before closing (`-1`: one; `nil`: no limit).
  private var messageLimit: Int? { oneMessage ? 1 : maxMessages }

  func run() async throws {
    var headers = try parseHeaders(header)
    if let origin { headers.append(("Origin", origin)) }
    let client = HttpClient(LinuxEngine()) { config in
      config.install(WebSockets.self) { plugin in
        plugin.maxFrameSize = maxMessage
        plugin.maxMessageSize = maxMessage
        plugin.pingInterval = ping.map { .milliseconds(Int($0 * 1000)) }
        plugin.pingTimeout = pingTimeout.map { .milliseconds(Int($0 * 1000)) }
        if compress { plugin.extensions { $0.install(WebSocketDeflateExtension.self) } }
        plugin.http2 = tls.http2Preference
        plugin.http2MaxSessionsPerConnection = tls.http2SessionsPerConnection
      }
    }
    let requestHeaders = headers
    let request: (inout HttpRequestBuilder) throws -> Void = { request in
      for (name, value) in requestHeaders { request.header(name, value) }
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
    output.detail("connected to \(url)")
    if let defaultSession = session as? DefaultClientWebSocketSession {
      output.detail("subprotocol: \(defaultSession.subprotocol ?? "none")")
    }
    output.detail("extensions: \(session.extensions.map(\.name).joined(separator: ", "))")
    let sender = Task { await sendInput(session) }
    var failure: (any Error)?
    var received = 0
    do {
      for try await frame in session.incoming {
        emit(frame)
        if frame.frameType == .text || frame.frameType == .binary, frame.fin { received += 1 }
        if let limit = messageLimit, received >= limit {
          _ = try? await session.close(CloseReason(.normal))
          break
        }
      }
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
    output.detail("closed: \(reason)")
  }

  /// `--reconnect`: a ``ReconnectingWebSocket``; states go to standard error, messages to standard output; end of
  /// input closes.
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
        guard let frame = outgoingFrame(line) else { continue }
        do {
          try await socket.send(frame)
        } catch {
          Console.error("ws connect: not sent: \(error)")
        }
      }
      await socket.close()
    }
    for await frame in socket.incoming { emit(frame) }
    _ = await sender.result
    _ = await states.result
  }

  /// The message a line of input becomes; `nil` (with a message) when it cannot be decoded.
  private func outgoingFrame(_ line: String) -> Frame? {
    guard binary else { return .text(line) }
    guard let bytes = hex ? decodeHex(line) : base64 ? decodeBase64(line) : Array(line.utf8) else {
      Console.error("ws connect: cannot decode \"\(line)\" as \(hex ? "hex" : "base64")")
      return nil
    }
    return .binary(bytes)
  }

  /// Reads standard input on its own thread and sends each line; closes with 1000 at end of input (with `-1`, after
  /// the first line the command closes once the answer has arrived). On a terminal, lines starting with `/` are
  /// commands.
  private func sendInput(_ session: any WebSocketSession) async {
    let lines = StandardInputLines()
    let interactive = isatty(0) != 0
    while let line = await lines.next() {
      if interactive, line.hasPrefix("/") {
        if await runCommand(line, session) { return }
        continue
      }
      guard let frame = outgoingFrame(line) else { continue }
      do { try await session.send(frame) } catch { return }
      if oneMessage { return }
    }
    if oneMessage { return }
    _ = try? await session.close(CloseReason(.normal))
  }

  /// `/ping [text]` and `/close [code [reason]]`; returns whether the session is closing.
  private func runCommand(_ line: String, _ session: any WebSocketSession) async -> Bool {
    let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
    switch words.first {
    case "/ping":
      let payload = words.count > 1 ? Array(line.drop { $0 != " " }.dropFirst().utf8) : nil
      do {
        let roundTrip = try await session.connection.ping(payload)
        Console.error("pong after \(roundTrip)")
      } catch {
        Console.error("ws connect: ping failed: \(error)")
      }
      return false
    case "/close":
      var reason = CloseReason(.normal)
      if words.count > 1 {
        guard let code = UInt16(words[1]), CloseReason.Code(rawValue: code).isValidOnWire else {
          Console.error("ws connect: /close takes a close code that may be sent (1000, 1001, 3000-4999...)")
          return false
        }
        reason = CloseReason(CloseReason.Code(rawValue: code), words.count > 2 ? String(words[2]) : "")
      }
      _ = try? await session.close(reason)
      return true
    default:
      Console.error("ws connect: unknown command \(words.first ?? ""); /ping [text], /close [code [reason]]")
      return false
    }
  }

  /// Received data to standard output (text as it is, one per line; binary raw, or a line of hex or base64);
  /// annotations and control frames to standard error.
  private func emit(_ frame: Frame) {
    switch frame.frameType {
    case .text:
      output.detail("< text (\(frame.data.count) bytes)\(frame.fin ? "" : ", more to come")")
      Console.outBytes(frame.data + (frame.fin ? [10] : []))
    case .binary:
      output.detail("< binary (\(frame.data.count) bytes)\(frame.fin ? "" : ", more to come")")
      if hex {
        Console.out(hexDump(frame.data).replacingSpaces())
      } else if base64 {
        Console.out(encodeBase64(frame.data))
      } else {
        Console.outBytes(frame.data)
      }
    case .close:
      output.note("< close: \(frame.readReason().map { "\($0)" } ?? "no status")")
    default:
      // A raw session's pings and pongs.
      output.note("< \(frame.frameType) (\(frame.data.count) bytes): \(hexDump(frame.data))")
    }
  }
}

extension String {
  /// `"48 65 6c"` as `"48656c"`.
  fileprivate func replacingSpaces() -> String { String(filter { $0 != " " }) }
}

/// Standard base64 (RFC 4648) with padding.
func encodeBase64(_ bytes: [UInt8]) -> String {
  let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
  var text: [UInt8] = []
  text.reserveCapacity((bytes.count + 2) / 3 * 4)
  var index = 0
  while index < bytes.count {
    let chunk = bytes[index..<min(index + 3, bytes.count)]
    var value: UInt32 = 0
    for byte in chunk { value = value << 8 | UInt32(byte) }
    value <<= UInt32(8 * (3 - chunk.count))
    for position in 0..<4 {
      if position <= chunk.count {
        text.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 63)])
      } else {
        text.append(UInt8(ascii: "="))
      }
    }
    index += 3
  }
  return String(decoding: text, as: UTF8.self)
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
