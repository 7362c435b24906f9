import Logging

/// The metadata keys of the library's log records (swift-log), so that a backend can index them.
public enum WispLogMetadata {
  /// A number that identifies one connection in this process's logs (the server counts from 1).
  public static let connection = "wisp.connection"
  /// The peer's address (`127.0.0.1:52144`, `unix:/path`).
  public static let peer = "wisp.peer"
  /// The request path (server) or the URL (client).
  public static let path = "wisp.path"
  /// The subprotocol agreed on, when there is one.
  public static let subprotocol = "wisp.subprotocol"
  /// The negotiated extensions' names, comma-separated.
  public static let extensions = "wisp.extensions"
  /// The HTTP version a session's handshake ran on: `1.1` (an upgrade, RFC 6455) or `2` (an extended CONNECT stream,
  /// RFC 8441).
  public static let httpVersion = "wisp.http_version"
  /// The HTTP status of a refusal.
  public static let status = "wisp.status"
  /// The close code at the end of a session.
  public static let closeCode = "wisp.close_code"
  /// The error's description.
  public static let error = "wisp.error"
}

/// The library's default logger.
extension Logger {
  /// A logger that writes nothing: the library's default, so that it is silent until the application gives it a
  /// logger of its own (which goes to whatever backend the application bootstrapped).
  public static var wispSilent: Logger { Logger(label: "wisp", factory: { _ in SwiftLogNoOpLogHandler() }) }
}
