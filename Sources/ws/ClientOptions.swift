import ArgumentParser
import Wisp

/// TLS options of the client commands.
struct ClientTLSOptions: ParsableArguments {
  @Option(help: "Trust the CA certificates in this PEM file instead of the system store.")
  var cacert: String?

  @Option(help: "Present this client certificate chain (PEM) for mutual TLS.")
  var cert: String?

  @Option(help: "The private key (PEM) of --cert.")
  var key: String?

  @Option(help: "Pin the server's public key: base64 SHA-256 of its SubjectPublicKeyInfo (repeatable).")
  var pin: [String] = []

  @Flag(help: "Accept any server certificate. Insecure: for tests only; prints a warning.")
  var insecure = false

  @Option(
    help: """
      WebSockets over HTTP/2 for wss:// (RFC 8441; sessions to one server share a connection): never (default), \
      when-offered, or required.
      """)
  var http2 = "never"

  @Option(
    name: .customLong("http2-sessions-per-connection"),
    help: """
      With --http2: the most sessions on one HTTP/2 connection before another is opened (default: the server's \
      limit).
      """)
  var http2SessionsPerConnection: Int?

  /// `--http2` as the plugin's setting.
  var http2Preference: HTTP2Preference {
    switch http2 {
    case "when-offered": .whenOffered
    case "required": .required
    default: .never
    }
  }

  func validate() throws {
    guard ["never", "when-offered", "required"].contains(http2) else {
      throw ValidationError("--http2 must be never, when-offered or required")
    }
    if let http2SessionsPerConnection, http2SessionsPerConnection < 1 {
      throw ValidationError("--http2-sessions-per-connection must be at least 1")
    }
  }

  /// Applies the options to a request's TLS settings.
  func apply(to tls: inout TLSClientConfiguration) {
    if let cacert { tls.trustRoots = .file(cacert) }
    tls.certificateChainFile = cert
    tls.privateKeyFile = key
    tls.pinnedPublicKeySHA256 = pin
    if insecure {
      Console.error("warning: --insecure: the server's certificate is not verified; anyone can impersonate it")
      tls.verifiesCertificate = false
      tls.verifiesHostname = false
    }
  }
}

/// The exit status and one-line message for a failed connection attempt.
func describeConnectFailure(_ error: any Error) -> (status: Int32, message: String) {
  var current: (any Error)? = error
  while let error = current {
    switch error {
    case let handshake as HandshakeError:
      if case .unexpectedStatus(let status, _) = handshake {
        return (ExitStatus.handshakeRefused, "the server refused the upgrade with HTTP \(status)")
      }
      return (ExitStatus.handshakeRefused, "bad handshake: \(handshake)")
    case let tls as TLSError:
      return (ExitStatus.tlsFailed, "\(tls)")
    case let proxy as ProxyError:
      return (ExitStatus.connectFailed, "\(proxy)")
    case let transport as TransportError:
      switch transport {
      case .connectionRefused, .unreachable, .nameResolutionFailed:
        return (ExitStatus.connectFailed, "\(transport)")
      default:
        break
      }
    default:
      break
    }
    current = (error as? WebSocketException)?.cause
  }
  return (ExitStatus.failure, "\(error)")
}

/// Parses "Name: value" header arguments.
func parseHeaders(_ arguments: [String]) throws -> [(String, String)] {
  try arguments.map { argument in
    guard let colon = argument.firstIndex(of: ":") else {
      throw ValidationError("a header must look like 'Name: value', got '\(argument)'")
    }
    let name = argument[..<colon].trimmingCharacters(in: " ")
    let value = argument[argument.index(after: colon)...].trimmingCharacters(in: " ")
    return (name, value)
  }
}

extension Substring {
  /// The text without leading and trailing `character`s.
  func trimmingCharacters(in character: Character) -> String {
    String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
  }
}
