import ArgumentParser
import Glibc
import Synchronization
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

  @Flag(help: "Echo every text and binary message back as the same type, on any path.")
  var echo = false

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

  @OptionGroup var output: OutputOptions

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    if maxMessage <= 0 { throw ValidationError("--max-message must be positive") }
    if let ping, ping <= 0 { throw ValidationError("--ping must be positive") }
    if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
    if sameOrigin && !allowedOrigins.isEmpty {
      throw ValidationError("--same-origin and --allowed-origin exclude each other")
    }
    if Self.profiles[tlsProfile] == nil {
      throw ValidationError("--tls-profile must be one of: \(Self.profiles.keys.sorted().joined(separator: ", "))")
    }
  }

  static let profiles: [String: TLSProfile] = [
    "intermediate": .intermediate, "modern": .modern, "openssl-defaults": .openSSLDefaults,
  ]

  func run() async throws {
    let application = makeApplication()
    var configuration = EmbeddedServer.Configuration(
      endpoint: unix.map { .unix(path: $0) } ?? .host(host, port: port), maxConnections: maxConnections)
    if let threads { configuration.group = try EventLoopGroup(loopCount: threads) }
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
    Console.out("listening on \(address)\(echo ? " (echo)" : " (chat rooms)")")
    if let portFile, let port = server.port { writePortFile(portFile, port: port) }
    let signal = await Signals.waitForTermination()
    output.note("\(signal): closing sessions with 1001")
    await server.stop()
  }

  private func makeApplication() -> Application {
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
    application.log = { event in output.note(event.description) }
    let echo = self.echo
    let rooms = ChatRooms()
    application.routing { routing in
      routing.get("/health") { _ in .text("ok\n") }
      routing.webSocket("/{path...}") { session in
        if echo {
          for try await frame in session.incoming { try await session.send(frame) }
          return
        }
        let room = session.call.request.path
        let id = rooms.join(room, session)
        defer { rooms.leave(room, id) }
        for try await frame in session.incoming {
          for other in rooms.members(of: room, except: id) {
            try? await other.send(frame)
          }
        }
      }
    }
    return application
  }
}

/// The sessions of each chat room (path).
final class ChatRooms: Sendable {
  private let rooms = Mutex<[String: [Int: DefaultWebSocketServerSession]]>([:])
  private let nextID = Atomic<Int>(0)

  func join(_ room: String, _ session: DefaultWebSocketServerSession) -> Int {
    let id = nextID.add(1, ordering: .relaxed).newValue
    rooms.withLock { $0[room, default: [:]][id] = session }
    return id
  }

  func leave(_ room: String, _ id: Int) {
    rooms.withLock { rooms in
      rooms[room]?[id] = nil
      if rooms[room]?.isEmpty == true { rooms[room] = nil }
    }
  }

  func members(of room: String, except id: Int) -> [DefaultWebSocketServerSession] {
    rooms.withLock { rooms in (rooms[room] ?? [:]).filter { $0.key != id }.map(\.value) }
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
