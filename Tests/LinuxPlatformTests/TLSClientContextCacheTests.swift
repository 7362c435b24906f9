import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

@Suite("The client's TLS contexts, shared by connections with the same settings")
struct TLSClientContextCacheTests {
  @Test("settings of one connection (server name, host name check, pins, time limit) share the context")
  func perConnectionFieldsShare() throws {
    let cache = TLSClientContextCache()
    let base = trusting()
    var other = base
    other.serverName = "example.com"
    other.verifiesHostname = false
    other.pinnedPublicKeySHA256 = ["AAAA"]
    other.handshakeTimeout = .milliseconds(200)
    let first = try cache.context(for: base, offersHTTP2: false)
    #expect(try cache.context(for: other, offersHTTP2: false) === first)
    #expect(cache.count == 1)
  }

  @Test("what the context holds (trust roots, verification, client certificate, ALPN) gets a context of its own")
  func contextFieldsDiffer() throws {
    let cache = TLSClientContextCache()
    let base = try cache.context(for: trusting(), offersHTTP2: false)
    var unverified = trusting()
    unverified.verifiesCertificate = false
    var withCertificate = trusting()
    withCertificate.certificateChainFile = certificate("client.pem")
    withCertificate.privateKeyFile = certificate("client.key")
    let others = [
      try cache.context(for: trusting(), offersHTTP2: true),
      try cache.context(for: unverified, offersHTTP2: false),
      try cache.context(for: withCertificate, offersHTTP2: false),
      try cache.context(for: trusting("other-ca.pem"), offersHTTP2: false),
    ]
    #expect(others.allSatisfy { $0 !== base })
    #expect(cache.count == 5)
  }

  @Test("a CA file that changes on disk is loaded again by the next connection")
  func changedFileRebuilds() throws {
    let cache = TLSClientContextCache()
    var template = Array("/tmp/wisp-ca-XXXXXX".utf8CString)
    let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
    defer { _ = system("rm -rf '\(directory)'") }
    let path = directory + "/ca.pem"
    #expect(system("cp '\(certificate("ca.pem"))' '\(path)'") == 0)
    var configuration = TLSClientConfiguration()
    configuration.trustRoots = .file(path)
    let first = try cache.context(for: configuration, offersHTTP2: false)
    #expect(try cache.context(for: configuration, offersHTTP2: false) === first)
    // Another CA appended: a new size (and modification time).
    #expect(system("cat '\(certificate("other-ca.pem"))' >> '\(path)'") == 0)
    #expect(try cache.context(for: configuration, offersHTTP2: false) !== first)
  }

  @Test("a file that cannot be loaded fails with a clear error and is not cached")
  func missingFileFails() {
    let cache = TLSClientContextCache()
    var configuration = TLSClientConfiguration()
    configuration.trustRoots = .file("/nonexistent/ca.pem")
    #expect(throws: TLSError.self) { _ = try cache.context(for: configuration, offersHTTP2: false) }
    #expect(cache.count == 0)
  }

  @Test("connections over one shared context verify each with its own name and pins")
  func sharedContextVerifiesPerConnection() async throws {
    let server = try await startTLSEchoServer(leaf: "server")
    defer { server.task.cancel() }
    let connector = LinuxTransportConnector(group: testGroup)
    let endpoint = Endpoint.host("127.0.0.1", port: server.port)
    func connect(_ configuration: TLSClientConfiguration, host: String = "localhost") async throws {
      // 20 s: the bound of a connect and handshake that a loaded machine (the full suite on two cores) still meets.
      let transport = try await connector.connect(to: endpoint, tls: configuration, host: host, timeout: .seconds(20))
      await transport.close()
    }
    var pinned = trusting()
    pinned.pinnedPublicKeySHA256 = [readPin("server.pin")]
    try await connect(pinned)
    var wrongPin = trusting()
    wrongPin.pinnedPublicKeySHA256 = [readPin("other.pin")]
    await #expect(throws: TLSError.pinMismatch(actual: readPin("server.pin"))) { try await connect(wrongPin) }
    // The certificate is for localhost: another name fails its host name check, over the same context.
    await #expect(throws: TLSError.self) { try await connect(trusting(), host: "wrong.example") }
    var named = trusting()
    named.serverName = "localhost"
    try await connect(named, host: "wrong.example")
    await server.listener.close()
  }
}
