import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// The TLS test certificates: made by `./scripts/test` before the tests start (Fixtures/make-certs.sh into the
/// directory named by `WISP_TEST_CERTIFICATES`), so that no test thread waits for the openssl command; a run of
/// `swift test` without it makes them here once, blocking the first threads that ask.
let certificates: String = {
  if let prepared = getenv("WISP_TEST_CERTIFICATES").map({ String(cString: $0) }),
    access(prepared + "/server.pem", R_OK) == 0
  {
    return prepared
  }
  var template = Array("/tmp/wisp-certs-XXXXXX".utf8CString)
  guard let directory = mkdtemp(&template) else { fatalError("mkdtemp failed") }
  let path = String(cString: directory)
  let script = String(#filePath.dropLast("TLSTests.swift".count)) + "Fixtures/make-certs.sh"
  guard system("'\(script)' '\(path)'") == 0 else { fatalError("make-certs.sh failed") }
  return path
}()

func certificate(_ name: String) -> String { "\(certificates)/\(name)" }

/// A server's TLS with the test CA's `localhost` certificate (server.pem).
func localhostServerTLS() -> TLSServerConfiguration {
  TLSServerConfiguration(certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"))
}

func readPin(_ name: String) -> String {
  guard let file = fopen(certificate(name), "r") else { return "" }
  defer { fclose(file) }
  var line = [CChar](repeating: 0, count: 128)
  fgets(&line, 128, file)
  return String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A TLS echo server with the given leaf certificate; returns its port and the task to cancel.
func startTLSEchoServer(
  leaf: String, clientCA: String? = nil, serverErrors: ServerErrors? = nil, oneLine: Bool = false,
  profile: TLSProfile = .intermediate
) async throws -> (port: Int, listener: SocketListener, task: Task<Void, Never>) {
  var configuration = TLSServerConfiguration(
    certificateChainFile: certificate("\(leaf).pem"), privateKeyFile: certificate("\(leaf).key"))
  configuration.profile = profile
  configuration.clientCertificateAuthorityFile = clientCA.map(certificate)
  let context = try TLSContext(.server(configuration))
  let listener = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0], group: testGroup)
  let task = Task {
    while true {
      guard let connection = try? await listener.accept() else { return }
      Task(executorPreference: connection.loop) {
        do {
          let tls = try await TLSTransport.accept(over: connection, context: context)
          if oneLine {
            // Echo one line, then close: the peer (openssl s_client) exits when we close.
            var line: [UInt8] = []
            while !line.contains(10) {
              let chunk = try await tls.read { Array($0) }
              if chunk.isEmpty { break }
              line += chunk
            }
            try await tls.write(line)
            await tls.close()
          } else {
            await echo(tls)
          }
        } catch {
          await serverErrors?.record(error)
        }
      }
    }
  }
  return (listener.localAddress.port ?? 0, listener, task)
}

actor ServerErrors {
  var errors: [any Error] = []
  func record(_ error: any Error) { errors.append(error) }
}

/// Connects with TLS to 127.0.0.1:`port` as `host`, and echoes `payload` through it.
func tlsRoundTrip(port: Int, host: String = "localhost", configuration: TLSClientConfiguration, payload: [UInt8])
  async throws -> [UInt8]
{
  let loop = testGroup.next()
  let socket = try await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: loop)
  return try await withTaskExecutorPreference(loop) {
    let context = try TLSContext(.client(configuration))
    let tls = try await TLSTransport.connect(over: socket, host: host, context: context)
    return try await roundTrip(tls, on: loop, payload)
  }
}

func trusting(_ ca: String = "ca.pem") -> TLSClientConfiguration {
  var configuration = TLSClientConfiguration()
  configuration.trustRoots = .file(certificate(ca))
  return configuration
}

@Suite("TLS on the system OpenSSL")
struct TLSTests {
  @Test("a trusted server works, by host name and by IP address; 1 MiB echoes intact")
  func trustedServer() async throws {
    let server = try await startTLSEchoServer(leaf: "server")
    let payload = pattern(1 << 20)
    #expect(try await tlsRoundTrip(port: server.port, configuration: trusting(), payload: payload) == payload)
    let byAddress = try await tlsRoundTrip(
      port: server.port, host: "127.0.0.1", configuration: trusting(), payload: [1, 2])
    #expect(byAddress == [1, 2])
    // A CA directory in OpenSSL's hashed layout works as well as a CA file.
    let directory = certificate("ca-directory")
    let rehash = await shell(
      "mkdir -p \(directory) && cp \(certificate("ca.pem")) \(directory)/ && openssl rehash \(directory)")
    #expect(rehash.status == 0)
    var byDirectory = TLSClientConfiguration()
    byDirectory.trustRoots = .directory(directory)
    #expect(try await tlsRoundTrip(port: server.port, configuration: byDirectory, payload: [5]) == [5])
    await server.listener.close()
    server.task.cancel()
  }

  @Test("an untrusted CA, an expired certificate and a wrong host name each fail with their own error")
  func verificationFailures() async throws {
    let untrusted = try await startTLSEchoServer(leaf: "untrusted")
    await #expect(throws: TLSError.untrustedCertificate("unable to get local issuer certificate")) {
      _ = try await tlsRoundTrip(port: untrusted.port, configuration: trusting(), payload: [1])
    }
    let expired = try await startTLSEchoServer(leaf: "expired")
    await #expect(throws: TLSError.certificateExpired("certificate has expired")) {
      _ = try await tlsRoundTrip(port: expired.port, configuration: trusting(), payload: [1])
    }
    let wrongHost = try await startTLSEchoServer(leaf: "wrong-host")
    await #expect(throws: TLSError.hostnameMismatch(host: "localhost")) {
      _ = try await tlsRoundTrip(port: wrongHost.port, configuration: trusting(), payload: [1])
    }
    // The same server passes when verification is explicitly turned off.
    var insecure = trusting()
    insecure.verifiesCertificate = false
    #expect(try await tlsRoundTrip(port: wrongHost.port, configuration: insecure, payload: [7]) == [7])
    for server in [untrusted, expired, wrongHost] {
      await server.listener.close()
      server.task.cancel()
    }
  }

  @Test("mutual TLS: a client certificate is accepted, a missing one refused")
  func mutualTLS() async throws {
    let errors = ServerErrors()
    let server = try await startTLSEchoServer(leaf: "server", clientCA: "ca.pem", serverErrors: errors)
    var withCertificate = trusting()
    withCertificate.certificateChainFile = certificate("client.pem")
    withCertificate.privateKeyFile = certificate("client.key")
    let echoed = try await tlsRoundTrip(port: server.port, configuration: withCertificate, payload: [4, 2])
    let errorsSoFar = await errors.errors
    #expect(echoed == [4, 2], "echoed \(echoed), server errors \(errorsSoFar)")
    // Without one: TLS 1.3 completes the client's handshake first, so the refusal arrives on the first read.
    await #expect(throws: TLSError.peerCertificateRequired) {
      _ = try await tlsRoundTrip(port: server.port, configuration: trusting(), payload: [1])
    }
    try await Task.sleep(for: .milliseconds(50))
    let serverSide = await errors.errors.compactMap { $0 as? TLSError }
    #expect(serverSide.contains(.peerCertificateRequired), "\(serverSide)")
    await server.listener.close()
    server.task.cancel()
  }

  @Test("pinning accepts the right key and refuses another")
  func pinning() async throws {
    let server = try await startTLSEchoServer(leaf: "server")
    var pinned = trusting()
    pinned.pinnedPublicKeySHA256 = [readPin("server.pin")]
    let echoed = try await tlsRoundTrip(port: server.port, configuration: pinned, payload: [9])
    #expect(echoed == [9], "echoed \(echoed)")
    var wrongPin = trusting()
    wrongPin.pinnedPublicKeySHA256 = [readPin("other.pin")]
    await #expect(throws: TLSError.pinMismatch(actual: readPin("server.pin"))) {
      _ = try await tlsRoundTrip(port: server.port, configuration: wrongPin, payload: [9])
    }
    await server.listener.close()
    server.task.cancel()
  }

  @Test("a server that never answers the handshake times out")
  func handshakeTimeout() async throws {
    let silent = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0])
    let port = try #require(silent.localAddress.port)
    var configuration = trusting()
    configuration.handshakeTimeout = .milliseconds(200)
    await #expect(throws: TLSError.handshakeTimedOut(.milliseconds(200))) {
      _ = try await tlsRoundTrip(port: port, configuration: configuration, payload: [1])
    }
    await silent.close()
  }

  @Test("interoperates with openssl s_server as server")
  func opensslServer() async throws {
    // The port is found free, then given to s_server: another test may take it in between (the suite runs in
    // parallel and binds many ephemeral ports), so a failed exchange is retried on a new port, at most 3 times.
    var lastError: (any Error)?
    for _ in 0..<3 {
      do {
        let reply = try await Self.opensslServerExchange()
        #expect(reply.hasPrefix("psiw olleh"), "s_server answered \(reply)")
        return
      } catch {
        lastError = error
      }
    }
    Issue.record("openssl s_server exchange failed 3 times: \(lastError.map { "\($0)" } ?? "")")
  }

  /// Starts openssl s_server (echoing lines reversed, -rev) on a free port and exchanges one line over TLS.
  static func opensslServerExchange() async throws -> String {
    let probe = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0])
    let port = try #require(probe.localAddress.port)
    await probe.close()
    let pid = spawn([
      "openssl", "s_server", "-quiet", "-rev", "-accept", "127.0.0.1:\(port)", "-cert", certificate("server.pem"),
      "-key",
      certificate("server.key"),
    ])
    defer { terminate(pid) }
    let loop = testGroup.next()
    var socket: SocketTransport?
    for _ in 0..<100 where socket == nil {
      socket = try? await SocketConnector.connect(to: .host("127.0.0.1", port: port), on: loop)
      if socket == nil { try await Task.sleep(for: .milliseconds(20)) }
    }
    let connection = try #require(socket)
    return try await withTaskExecutorPreference(loop) {
      let tls = try await TLSTransport.connect(
        over: connection, host: "localhost", context: TLSContext(.client(trusting())))
      try await tls.write(Array("hello wisp\n".utf8))
      var received: [UInt8] = []
      while received.count < 10 {
        let chunk = try await tls.read { Array($0) }
        if chunk.isEmpty { break }
        received += chunk
      }
      await tls.close()
      return String(decoding: received, as: UTF8.self)
    }
  }

  @Test("the minimum version is enforced: a TLS 1.2-only openssl s_server is refused by a TLS 1.3 client")
  func minimumVersion() async throws {
    // As in `opensslServer`: a port found free may be taken by another test before s_server binds it, which shows
    // as a reset or a close instead of a TLS alert (a close during the handshake is a `handshakeFailed` without
    // one); such an attempt is repeated on a new port (at most 3).
    var outcome: (any Error)?
    for _ in 0..<3 {
      outcome = try await Self.tls13AgainstTLS12Server()
      if case .handshakeFailed(let detail)? = outcome as? TLSError,
        detail.contains("version") || detail.contains("alert")
      {
        break
      }
    }
    guard case .handshakeFailed(let detail)? = outcome as? TLSError else {
      Issue.record("expected a handshake failure, got \(String(describing: outcome))")
      return
    }
    #expect(detail.contains("version") || detail.contains("alert"), "\(detail)")
  }

  /// A TLS 1.3-only client against `openssl s_server -tls1_2` on a free port: the error it ended with.
  static func tls13AgainstTLS12Server() async throws -> (any Error)? {
    let probe = try await SocketListener.bind(.host("127.0.0.1", port: 0), on: testGroup.loops[0])
    let port = try #require(probe.localAddress.port)
    await probe.close()
    let pid = spawn([
      "openssl", "s_server", "-quiet", "-tls1_2", "-accept", "127.0.0.1:\(port)", "-cert", certificate("server.pem"),
      "-key", certificate("server.key"),
    ])
    defer { terminate(pid) }
    var tls13 = trusting()
    tls13.minimumVersion = .tls13
    for _ in 0..<100 {
      do {
        _ = try await tlsRoundTrip(port: port, configuration: tls13, payload: [1])
        return nil
      } catch TransportError.connectionRefused {
        try await Task.sleep(for: .milliseconds(20))  // s_server is still starting
      } catch {
        return error
      }
    }
    return nil
  }

  @Test("interoperates with openssl s_client as client")
  func opensslClient() async throws {
    let server = try await startTLSEchoServer(leaf: "server", oneLine: true)
    let command =
      "printf 'ping from s_client\\n' | openssl s_client -quiet -connect 127.0.0.1:\(server.port) "
      + "-servername localhost -verify_return_error -CAfile \(certificate("ca.pem")) 2>/dev/null"
    let result = await shell(command)
    #expect(result.output.contains("ping from s_client"), "s_client printed: \(result.output)")
    await server.listener.close()
    server.task.cancel()
  }
}

/// Issue 23, "TLS profile": which suites a server accepts, asked of it by `openssl s_client` offering one suite at a
/// time (at security level 0, so that only the server decides).
@Suite("TLS profiles of the server, checked with openssl s_client")
struct TLSProfileTests {
  /// Offers each of `ciphers` alone over TLS 1.2 (or `-tls1_3`, `-tls1_1` when named so) and returns the ones the
  /// server accepted.
  static func accepted(_ ciphers: [String], leaf: String, profile: TLSProfile) async throws -> Set<String> {
    let server = try await startTLSEchoServer(leaf: leaf, oneLine: true, profile: profile)
    defer {
      server.task.cancel()
    }
    var script = ""
    for cipher in ciphers {
      let options: String
      switch cipher {
      case "TLSv1.3": options = "-tls1_3"
      case "TLSv1.1": options = "-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'"
      default: options = "-tls1_2 -cipher '\(cipher):@SECLEVEL=0'"
      }
      script +=
        "if openssl s_client -connect 127.0.0.1:\(server.port) \(options) </dev/null 2>/dev/null"
        + " | grep -q 'Cipher is [A-Z]'; then echo 'accepted \(cipher)'; fi; "
    }
    let result = await shell(script)
    await server.listener.close()
    return Set(
      result.output.split(separator: "\n").compactMap { $0.hasPrefix("accepted ") ? String($0.dropFirst(9)) : nil })
  }

  static let ecdheAEAD = [
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
  ]
  static let weak = [
    "AES128-SHA", "AES256-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256", "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA", "ECDHE-RSA-AES128-SHA256", "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES128-SHA",
  ]

  @Test(
    "intermediate (the default): TLS 1.3, and TLS 1.2 only with ECDHE and AEAD; no static RSA, CBC, SHA-1 or TLS 1.1")
  func intermediate() async throws {
    #expect(TLSServerConfiguration(certificateChainFile: "", privateKeyFile: "").profile == .intermediate)
    let accepted = try await Self.accepted(
      Self.ecdheAEAD + Self.weak + ["TLSv1.3", "TLSv1.1"], leaf: "rsa-server", profile: .intermediate)
    #expect(accepted == Set(Self.ecdheAEAD + ["TLSv1.3"]))
    let ecdsa = try await Self.accepted(
      ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-SHA"], leaf: "server",
      profile: .intermediate)
    #expect(ecdsa == ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"])
  }

  @Test("modern accepts TLS 1.3 only; openSSLDefaults still takes the weak suites; a custom list is honoured")
  func otherProfiles() async throws {
    let modern = try await Self.accepted(Self.ecdheAEAD + ["TLSv1.3"], leaf: "rsa-server", profile: .modern)
    #expect(modern == ["TLSv1.3"])
    let defaults = try await Self.accepted(
      ["AES128-SHA", "ECDHE-RSA-AES128-SHA"], leaf: "rsa-server", profile: .openSSLDefaults)
    #expect(defaults == ["AES128-SHA", "ECDHE-RSA-AES128-SHA"])
    let custom = try await Self.accepted(
      Self.ecdheAEAD, leaf: "rsa-server",
      profile: TLSProfile(minimumVersion: .tls12, tls12Ciphers: "ECDHE-RSA-AES256-GCM-SHA384"))
    #expect(custom == ["ECDHE-RSA-AES256-GCM-SHA384"])
  }

  @Test("a cipher list that names nothing OpenSSL knows fails when the context is built, with the list in the error")
  func invalidList() throws {
    var configuration = TLSServerConfiguration(
      certificateChainFile: certificate("server.pem"), privateKeyFile: certificate("server.key"))
    configuration.profile = TLSProfile(minimumVersion: .tls12, tls12Ciphers: "NO-SUCH-CIPHER")
    #expect {
      _ = try TLSContext(.server(configuration))
    } throws: { error in
      "\(error)".contains("NO-SUCH-CIPHER")
    }
  }
}
