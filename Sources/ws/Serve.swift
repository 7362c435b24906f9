import ArgumentParser
import Glibc
import ServiceLifecycle
import Synchronization
import UnixSignals
import Wisp

/// `ws serve`: a WebSocket server: echo (`--echo`, the conformance suites' server side) or chat rooms.
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Serve WebSockets: echo every message, or relay messages between clients on the same path.",
    discussion: """
      Without --echo, every path is a chat room: a message from one client goes to every other client on the same \
      path. GET /health answers 200. Stops gracefully (close 1001) on Ctrl-C or SIGTERM.
      """)

  @Option(help: "The TCP port; 0 picks a free one and prints it.")
  var port = 8080

  @Option(name: .customLong("port-file"), help: "Also write the port listened on to this file (for scripts).")
  var portFile: String?

  @Option(help: "The address to listen on (127.0.0.1, 0.0.0.0, ::1, ::).")
  var host = "127.0.0.1"

  @Option(help: "Listen on this Unix domain socket path instead of TCP.")
  var unix: String?

  @Flag(
    name: .customLong("reuse-port"),
    help: """
      Share the port with other processes started with --reuse-port (SO_REUSEPORT): the kernel spreads new \
      connections over them. Start a new server, then stop the old one with SIGTERM: no client is refused.
      """)
  var reusePort = false

  @Option(
    help: """
      HTTP/2 on the TLS listener (ALPN h2, WebSockets as RFC 8441 extended CONNECT streams): on (default) or off.
      """)
  var http2 = "on"

  @Flag(help: "Also accept HTTP/2 with prior knowledge (h2c) on a plain listener, for proxies that talk h2c.")
  var h2c = false

  @Flag(help: "Echo every text and binary message back as the same type, on any path.")
  var echo = false

  @Option(
    help: ArgumentHelp(
      "Run this shell command per connection, as websocketd does: each line it writes is a text message, each "
        + "message received is a line on its standard input; its end closes the session with 1000."))
  var exec: String?

  @Option(name: .customLong("tls-cert"), help: "Serve wss:// with this certificate chain (PEM).")
  var tlsCert: String?

  @Option(name: .customLong("tls-key"), help: "The private key (PEM) of --tls-cert.")
  var tlsKey: String?

  @Option(name: .customLong("tls-client-ca"), help: "Require client certificates signed by these CAs (PEM).")
  var tlsClientCA: String?

  @Option(
    name: .customLong("tls-profile"),
    help: ArgumentHelp(
      "intermediate (default: TLS 1.2 with ECDHE and AEAD ciphers, and TLS 1.3), modern (TLS 1.3 only), or "
        + "openssl-defaults (OpenSSL's own list, with static RSA and CBC suites)."))
  var tlsProfile = "intermediate"

  @Option(
    name: .customLong("allowed-origin"),
    help: ArgumentHelp(
      "Accept browser upgrades only from this origin (repeatable; https://app.example.com, https://*.example.com); "
        + "others get 403. Requests without Origin are not affected."))
  var allowedOrigins: [String] = []

  @Flag(
    name: .customLong("same-origin"),
    help: "Accept browser upgrades only from pages of this server (Origin's host and port equal Host); others get 403.")
  var sameOrigin = false

  @Flag(help: "Accept permessage-deflate (RFC 7692) when clients offer it.")
  var compress = false

  @Option(name: .customLong("max-message"), help: "The largest message (and frame) accepted, in bytes.")
  var maxMessage = 64 * 1024 * 1024

  @Option(help: "Ping every client every SECONDS; close with 1011 when the pong does not come back.")
  var ping: Double?

  @Option(
    name: .customLong("max-connections"),
    help: ArgumentHelp(
      "Connections served at once (default: the descriptor limit, raised to its hard value, less a reserve); "
        + "more are answered 503 with Retry-After."))
  var maxConnections: Int?

  @Option(help: "Event-loop threads (default: one per core).")
  var threads: Int?

  @Option(
    name: .customLong("pubsub"),
    help: ArgumentHelp(
      "Share the chat rooms with every `ws serve` on this Redis (redis://[user:password@]HOST[:PORT]): a message "
        + "reaches the room's clients in every process."))
  var pubsub: String?

  @Option(
    name: .customLong("history"),
    help: ArgumentHelp(
      "Keep each chat room's last COUNT messages (in this process; with --pubsub, in Redis Streams, shared by every "
        + "`ws serve` on that Redis), give every message an offset, and let a client resume with ?since=OFFSET: it "
        + "gets what it missed, each message prefixed by its offset (see docs/fanout-history.md).",
      valueName: "count"))
  var history: Int?

  @Option(
    name: .customLong("history-age"),
    help: ArgumentHelp("With --history: also drop messages older than SECONDS.", valueName: "seconds"))
  var historyAge: Double?

  @Option(
    name: .customLong("room-queue"),
    help: "The most bytes queued for one slow client of a chat room before its policy applies (default 1 MiB).")
  var roomQueue = 1024 * 1024

  @Option(
    name: .customLong("slow-client"),
    help: ArgumentHelp(
      "What a chat room does when a client's queue is full: drop-oldest (default), drop-newest, close (1008) or "
        + "try-again-later (close 1013)."))
  var slowClient = "drop-oldest"

  @OptionGroup var output: OutputOptions

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    if maxMessage <= 0 { throw ValidationError("--max-message must be positive") }
    if http2 != "on" && http2 != "off" { throw ValidationError("--http2 must be on or off") }
    if let ping, ping <= 0 { throw ValidationError("--ping must be positive") }
    if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
    if sameOrigin && !allowedOrigins.isEmpty {
      throw ValidationError("--same-origin and --allowed-origin exclude each other")
    }
    if echo && exec != nil { throw ValidationError("--echo and --exec exclude each other") }
    if Self.slowClientPolicies[slowClient] == nil {
      throw ValidationError(
        "--slow-client must be one of: \(Self.slowClientPolicies.keys.sorted().joined(separator: ", "))")
    }
    if roomQueue < 0 { throw ValidationError("--room-queue must not be negative") }
    if let history, history < 0 { throw ValidationError("--history must not be negative") }
    if let historyAge, historyAge <= 0 { throw ValidationError("--history-age must be positive") }
    if historyAge != nil && history == nil { throw ValidationError("--history-age needs --history") }
    if let pubsub {
      do { _ = try RedisConfiguration(url: pubsub) } catch { throw ValidationError("--pubsub: \(error)") }
    }
    if Self.profiles[tlsProfile] == nil {
      throw ValidationError("--tls-profile must be one of: \(Self.profiles.keys.sorted().joined(separator: ", "))")
    }
  }

  static let profiles: [String: TLSProfile] = [
    "intermediate": .intermediate, "modern": .modern, "openssl-defaults": .openSSLDefaults,
  ]

  static let slowClientPolicies: [String: SlowSubscriberPolicy] = [
    "drop-oldest": .dropOldest, "drop-newest": .dropNewest, "close": .closePolicyViolation,
    "try-again-later": .closeTryAgainLater,
  ]

  func run() async throws {
    let historyPolicy = history.map { count in
      TopicHistoryPolicy(TopicHistoryOptions(maxCount: count, maxAge: historyAge.map { .milliseconds(Int($0 * 1000)) }))
    }
    let backend: (any PubSubBackend)? = try pubsub.map { url in
      let configuration = try RedisConfiguration(url: url)
      if let historyPolicy { return RedisStreams(configuration, history: historyPolicy) }
      return RedisPubSub(configuration)
    }
    let rooms = Topics(
      backend: backend,
      defaultOptions: SubscriberOptions(queueLimit: roomQueue, policy: Self.slowClientPolicies[slowClient]!),
      history: historyPolicy)
    let output = self.output
    if backend != nil {
      Task { for await event in rooms.events { output.note("pubsub: \(event)") } }
    }
    let application = makeApplication(rooms: rooms)
    var configuration = EmbeddedServer.Configuration(
      endpoint: unix.map { .unix(path: $0) } ?? .host(host, port: port), maxConnections: maxConnections)
    if let threads { configuration.group = try EventLoopGroup(loopCount: threads) }
    configuration.reusePort = reusePort
    configuration.http2.enabled = http2 == "on"
    configuration.http2.acceptsPriorKnowledge = h2c
    if let tlsCert, let tlsKey {
      configuration.tls = TLSServerConfiguration(
        certificateChainFile: tlsCert, privateKeyFile: tlsKey, clientCertificateAuthorityFile: tlsClientCA)
      configuration.tls?.profile = Self.profiles[tlsProfile] ?? .intermediate
    }
    let server = EmbeddedServer(application, configuration: configuration)
    do {
      try await server.start()
    } catch {
      Console.error("ws serve: \(error)")
      throw ExitCode(ExitStatus.failure)
    }
    let scheme = tlsCert == nil ? "ws" : "wss"
    let address =
      unix.map { "unix:\($0)" }
      ?? "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(server.port ?? port)/"
    let mode = echo ? " (echo)" : exec.map { " (exec: \($0))" } ?? " (chat rooms)"
    Console.out("listening on \(address)\(mode)")
    if let portFile, let port = server.port { writePortFile(portFile, port: port) }
    // A ServiceGroup runs the server: SIGTERM or SIGINT (Ctrl-C) shut it down gracefully, every session closing with
    // 1001 within the server's grace period (5 s).
    let group = ServiceGroup(
      services: [server], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
      logger: Logger(label: "ws.serve") { _ in ConsoleLogHandler(level: output.logLevel) { Console.error($0) } })
    do { try await group.run() } catch { Console.error("ws serve: \(error)") }
    output.note("stopped: sessions closed with 1001")
    await rooms.shutdown()
  }

  private func makeApplication(rooms: Topics) -> Application {
    var application = Application()
    let output = self.output
    application.install(WebSockets.self) { config in
      config.maxFrameSize = maxMessage
      config.maxMessageSize = maxMessage
      config.pingPeriod = ping.map { .milliseconds(Int($0 * 1000)) }
      config.handshakeTimeout = .seconds(10)
      if sameOrigin { config.originPolicy = .sameOrigin }
      if !allowedOrigins.isEmpty { config.originPolicy = .allowList(allowedOrigins) }
      if compress { config.extensions { $0.install(WebSocketDeflateExtension.self) } }
    }
    application.logger = Logger(label: "ws.serve") { _ in
      ConsoleLogHandler(level: output.logLevel) { Console.error($0) }
    }
    // One closure per mode: a closure's async frame holds the locals of all its paths, and the frames of a waiting
    // handler stay allocated while its session idles (the echo closure's frame is a fifth of the three-mode one's).
    let handler: @Sendable (DefaultWebSocketServerSession) async throws -> Void
    if echo {
      handler = Self.echo
    } else if let exec {
      handler = { session in try await ExecBridge.run(exec, for: session) }
    } else {
      handler = { session in try await Self.chat(session, rooms: rooms, output: output) }
    }
    application.routing { routing in
      routing.get("/health") { _ in .text("ok\n") }
      routing.webSocket("/{...}", handler)
    }
    return application
  }

  /// `--echo`: every frame back as it came.
  @Sendable private static func echo(_ session: DefaultWebSocketServerSession) async throws {
    for try await frame in session.incoming { try await session.send(frame) }
  }

  /// Chat rooms: every path is a topic; a message goes to every other session on the path, in this process and, with
  /// --pubsub, in every process on the same Redis. A slow reader meets the room's policy; nobody waits for it.
  private static func chat(_ session: DefaultWebSocketServerSession, rooms: Topics, output: OutputOptions) async throws
  {
    let room = session.call.request.path
    if let since = session.call.query("since") {
      // A client that resumes (or will): every message prefixed by its offset, gaps announced in-band. An empty or
      // unknown offset starts from now.
      var options = rooms.defaultOptions
      options.framing = .offsetPrefixed
      let recovery = await rooms.subscribe(session, to: room, from: TopicOffset(since), options: options)
      if case .recovered = recovery {} else { output.note("\(room): resume from \(since): \(recovery)") }
    } else {
      await rooms.subscribe(session, to: room)
    }
    for try await frame in session.incoming {
      guard let message = TopicMessage(frame) else { continue }
      do { try rooms.publish(message, to: room, excluding: session) } catch {
        output.note("\(room): \(error)")
      }
    }
  }
}

/// Writes `port` to `path` atomically (a temporary file renamed), so a reader never sees a partial number.
func writePortFile(_ path: String, port: Int) {
  let temporary = path + ".tmp"
  guard let file = fopen(temporary, "w") else {
    Console.error("ws serve: cannot write \(path)")
    return
  }
  fputs("\(port)", file)
  fclose(file)
  rename(temporary, path)
}
