import Logging

/// A server application: the WebSockets plugin and the routes (Ktor's `Application` with `install(WebSockets)` and
/// `routing { }`). A value: build it once, then serve it with the Linux embedded server or the in-memory test host.
///
/// ```swift
/// var application = Application()
/// application.install(WebSockets.self) { $0.pingPeriod = .seconds(30) }
/// application.routing { routing in
///   routing.webSocket("/echo") { session in
///     for try await frame in session.incoming { try await session.send(frame) }
///   }
/// }
/// ```
public struct Application: Sendable {
  /// The WebSockets plugin's settings; `nil` until installed (WebSocket routes then answer 500 and log why).
  public private(set) var webSockets: WebSockets.ServerConfig?
  /// The routes.
  public private(set) var routes = Routing()
  /// Where the server logs sessions opened and closed (info), refusals (debug; notice for 403, 429 and 503), dropped
  /// connections (debug), and handler and upgrade-check errors (error), each with the connection's metadata
  /// (``WispLogMetadata``: connection number, peer, path, subprotocol, extensions, status, close code). Default: a
  /// logger that writes nothing; pass one (`Logger(label: "my-server")`) to log through the swift-log backend the
  /// application bootstrapped.
  public var logger: Logger = .wispSilent

  /// Creates an empty application.
  public init() {}

  /// Installs the WebSockets plugin (Ktor's `install(WebSockets) { ... }`).
  public mutating func install(
    _ plugin: WebSockets.Type, _ configure: (inout WebSockets.ServerConfig) -> Void = { _ in }
  ) {
    var config = webSockets ?? WebSockets.ServerConfig()
    configure(&config)
    webSockets = config
  }

  /// Adds routes (Ktor's `routing { }`).
  public mutating func routing(_ build: (inout Routing) -> Void) {
    build(&routes)
  }
}

/// Something the server reports to ``Application/logger`` (the record's message is the event's description).
public enum ServerLogEvent: Sendable, CustomStringConvertible {
  /// A WebSocket session opened.
  case sessionOpened(peer: String, path: String, subprotocol: String?)
  /// A WebSocket session closed with `reason`.
  case sessionClosed(peer: String, path: String, reason: CloseReason)
  /// A request was answered with an error status (404, 400, 426, 431...).
  case requestRefused(peer: String, target: String, status: Int, reason: String)
  /// A handler threw; its session closed with 1011.
  case handlerFailed(peer: String, path: String, error: String)
  /// A connection ended before a request was read (timeout, malformed head, I/O error).
  case connectionFailed(peer: String, error: String)
  /// A route's upgrade check threw or ran past its time limit; the client got 500 or 503 without this detail.
  case upgradeCheckFailed(peer: String, path: String, error: String)

  /// One line for a log.
  public var description: String {
    switch self {
    case .sessionOpened(let peer, let path, let subprotocol):
      "\(peer) opened \(path)" + (subprotocol.map { " (subprotocol \($0))" } ?? "")
    case .sessionClosed(let peer, let path, let reason): "\(peer) closed \(path): \(reason)"
    case .requestRefused(let peer, let target, let status, let reason): "\(peer) \(target) refused \(status): \(reason)"
    case .handlerFailed(let peer, let path, let error): "\(peer) \(path) handler failed: \(error)"
    case .connectionFailed(let peer, let error): "\(peer) dropped: \(error)"
    case .upgradeCheckFailed(let peer, let path, let error): "\(peer) \(path) upgrade check failed: \(error)"
    }
  }
}
