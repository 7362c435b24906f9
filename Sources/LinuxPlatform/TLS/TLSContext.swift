import CWispOpenSSL
import WispCommon

/// An OpenSSL `SSL_CTX` built once from a `TLSClientConfiguration` or `TLSServerConfiguration`: trust
/// store, certificates, protocol versions, verification mode, ALPN.
package final class TLSContext: @unchecked Sendable {
  /// The role the context serves.
  package enum Role: Sendable {
    /// Connects to servers and verifies them.
    case client(TLSClientConfiguration)
    /// Accepts clients, optionally verifying their certificates.
    case server(TLSServerConfiguration)
  }

  let context: OpaquePointer
  /// The role and configuration.
  package let role: Role
  /// Whether ALPN includes `h2` (HTTP/2, RFC 8441) before `http/1.1`: a server selects it when the client offers it,
  /// a client offers it.
  package let offersHTTP2: Bool

  /// Builds the context; loading files happens here, so configuration mistakes fail early with a clear error.
  ///
  /// - Throws: `TLSError/invalidConfiguration(_:)` naming the file or setting that failed.
  package init(_ role: Role, offersHTTP2: Bool = false) throws(TLSError) {
    self.role = role
    self.offersHTTP2 = offersHTTP2
    let method = {
      switch role {
      case .client: TLS_client_method()
      case .server: TLS_server_method()
      }
    }()
    guard let context = SSL_CTX_new(method) else {
      throw .invalidConfiguration("SSL_CTX_new failed: \(OpenSSLErrors.drainQueue())")
    }
    self.context = context
    // An idle connection keeps no record buffers ("When we no longer need a read buffer or a write buffer for a
    // given SSL, then release the memory we were using to hold it", SSL_CTX_set_mode(3)): about 34 KB less per
    // idle TLS session (issue 34's million), for a buffer taken again when records flow.
    _ = wisp_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
    switch role {
    case .client(let configuration): try configureClient(configuration)
    case .server(let configuration): try configureServer(configuration)
    }
  }

  deinit {
    SSL_CTX_free(context)
  }

  private func setMinimumVersion(_ version: TLSVersion) throws(TLSError) {
    let value = version == .tls13 ? wisp_TLS1_3_VERSION() : wisp_TLS1_2_VERSION()
    guard wisp_SSL_CTX_set_min_proto_version(context, value) == 1 else {
      throw .invalidConfiguration("cannot set the minimum TLS version")
    }
  }

  /// The profile's versions and cipher suites.
  private func apply(_ profile: TLSProfile) throws(TLSError) {
    try setMinimumVersion(profile.minimumVersion)
    if let ciphers = profile.tls12Ciphers, SSL_CTX_set_cipher_list(context, ciphers) != 1 {
      throw .invalidConfiguration("no usable TLS 1.2 cipher in \"\(ciphers)\": \(OpenSSLErrors.drainQueue())")
    }
    if let suites = profile.tls13CipherSuites, SSL_CTX_set_ciphersuites(context, suites) != 1 {
      throw .invalidConfiguration("no usable TLS 1.3 cipher suite in \"\(suites)\": \(OpenSSLErrors.drainQueue())")
    }
  }

  private func useCertificate(chain: String, key: String) throws(TLSError) {
    guard SSL_CTX_use_certificate_chain_file(context, chain) == 1 else {
      throw .invalidConfiguration("cannot load certificate chain \(chain): \(OpenSSLErrors.drainQueue())")
    }
    guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
      throw .invalidConfiguration("cannot load private key \(key): \(OpenSSLErrors.drainQueue())")
    }
    guard SSL_CTX_check_private_key(context) == 1 else {
      throw .invalidConfiguration("the private key \(key) does not match the certificate \(chain)")
    }
  }

  private func configureClient(_ configuration: TLSClientConfiguration) throws(TLSError) {
    try setMinimumVersion(configuration.minimumVersion)
    switch configuration.trustRoots {
    case .system:
      guard SSL_CTX_set_default_verify_paths(context) == 1 else {
        throw .invalidConfiguration("cannot load the system trust store: \(OpenSSLErrors.drainQueue())")
      }
    case .file(let path):
      guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
        throw .invalidConfiguration("cannot load CA file \(path): \(OpenSSLErrors.drainQueue())")
      }
    case .directory(let path):
      guard SSL_CTX_load_verify_locations(context, nil, path) == 1 else {
        throw .invalidConfiguration("cannot use CA directory \(path): \(OpenSSLErrors.drainQueue())")
      }
    }
    SSL_CTX_set_verify(context, configuration.verifiesCertificate ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
    if let chain = configuration.certificateChainFile {
      guard let key = configuration.privateKeyFile else {
        throw .invalidConfiguration("a client certificate needs its private key file")
      }
      try useCertificate(chain: chain, key: key)
    }
    // ALPN "http/1.1": the WebSocket handshake is HTTP/1.1 (RFC 6455 section 4.1); "h2" first when the client may
    // run its WebSockets over HTTP/2 (RFC 8441).
    let protocols: [UInt8] = (offersHTTP2 ? [2] + Array("h2".utf8) : []) + [8] + Array("http/1.1".utf8)
    _ = SSL_CTX_set_alpn_protos(context, protocols, UInt32(protocols.count))
  }

  private func configureServer(_ configuration: TLSServerConfiguration) throws(TLSError) {
    try apply(configuration.profile)
    try useCertificate(chain: configuration.certificateChainFile, key: configuration.privateKeyFile)
    if let caFile = configuration.clientCertificateAuthorityFile {
      guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1, let names = SSL_load_client_CA_file(caFile)
      else {
        throw .invalidConfiguration("cannot load client CA file \(caFile): \(OpenSSLErrors.drainQueue())")
      }
      SSL_CTX_set_client_CA_list(context, names)
      SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
    }
    // Select "http/1.1" (or "h2" first, when the server speaks HTTP/2) when the client offers ALPN; a client that
    // offers only other protocols is refused.
    if offersHTTP2 {
      wisp_SSL_CTX_select_h2_or_http11_alpn(context)
    } else {
      wisp_SSL_CTX_select_http11_alpn(context)
    }
  }
}
