/// TLS settings of a client (`wss://`). Safe by default: the system trust store, hostname verification on,
/// TLS 1.2 or newer.
public struct TLSClientConfiguration: Sendable, Hashable {
  /// Where trusted root certificates come from.
  public enum TrustRoots: Sendable, Hashable {
    /// The system trust store (Debian: `/etc/ssl/certs`).
    case system
    /// A PEM file of CA certificates.
    case file(String)
    /// A directory of hashed CA certificates (`c_rehash` layout).
    case directory(String)
  }

  /// The trusted roots. Default: ``TrustRoots/system``.
  public var trustRoots: TrustRoots = .system
  /// A PEM certificate chain to present for mutual TLS. Default: none.
  public var certificateChainFile: String?
  /// The PEM private key of ``certificateChainFile``. Default: none.
  public var privateKeyFile: String?
  /// Whether the certificate must name the host we connect to (DNS name or IP address SAN). Default `true`;
  /// turning it off is for tests against a certificate that names another host, and defeats TLS's protection
  /// against a man in the middle.
  public var verifiesHostname: Bool = true
  /// Whether the certificate chain is verified at all. Default `true`; `false` accepts any certificate (the
  /// `ws connect --insecure` flag) and should never be used in production.
  public var verifiesCertificate: Bool = true
  /// The oldest protocol version accepted. Default TLS 1.2.
  public var minimumVersion: TLSVersion = .tls12
  /// SHA-256 digests of the SubjectPublicKeyInfo (base64, as in HPKP `pin-sha256`) that the server's leaf
  /// certificate must match, in addition to normal verification. Empty (the default) pins nothing.
  public var pinnedPublicKeySHA256: [String] = []
  /// The host name sent in SNI and verified; default `nil` uses the host of the URL.
  public var serverName: String?
  /// The time allowed for the TLS handshake. Default 10 s.
  public var handshakeTimeout: Duration = .seconds(10)

  /// Creates the default configuration.
  public init() {}
}

/// TLS settings of a server.
public struct TLSServerConfiguration: Sendable, Hashable {
  /// The PEM certificate chain, leaf first.
  public var certificateChainFile: String
  /// The PEM private key of the leaf certificate.
  public var privateKeyFile: String
  /// A PEM file of CAs whose client certificates are accepted; when set, clients must present one (mutual TLS).
  /// Default `nil`: no client certificate is requested.
  public var clientCertificateAuthorityFile: String?
  /// The protocol versions and cipher suites accepted. Default ``TLSProfile/intermediate`` (TLS 1.2 and 1.3;
  /// for TLS 1.2 only ECDHE with AEAD ciphers); ``TLSProfile/modern`` for TLS 1.3 only.
  public var profile: TLSProfile = .intermediate
  /// The oldest protocol version accepted: the profile's. Default TLS 1.2.
  public var minimumVersion: TLSVersion {
    get { profile.minimumVersion }
    set { profile.minimumVersion = newValue }
  }
  /// The time allowed for the TLS handshake. Default 10 s: slow or stalled clients are dropped.
  public var handshakeTimeout: Duration = .seconds(10)

  /// Creates a configuration from a certificate chain and its key.
  public init(certificateChainFile: String, privateKeyFile: String, clientCertificateAuthorityFile: String? = nil) {
    self.certificateChainFile = certificateChainFile
    self.privateKeyFile = privateKeyFile
    self.clientCertificateAuthorityFile = clientCertificateAuthorityFile
  }
}

/// A TLS protocol version.
public enum TLSVersion: Sendable, Hashable, Comparable {
  /// TLS 1.2 (RFC 5246).
  case tls12
  /// TLS 1.3 (RFC 8446).
  case tls13
}

/// Why a TLS connection failed. Each case names what went wrong, so a user can fix it.
public enum TLSError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The server's certificate does not chain to a trusted root (unknown CA, self-signed).
  case untrustedCertificate(String)
  /// A certificate in the chain has expired (or is not yet valid).
  case certificateExpired(String)
  /// The certificate does not name the host we connected to.
  case hostnameMismatch(host: String)
  /// The leaf certificate's public key matches none of the pins.
  case pinMismatch(actual: String)
  /// The handshake did not finish in time.
  case handshakeTimedOut(Duration)
  /// The peer did not present a certificate that was required (mutual TLS).
  case peerCertificateRequired
  /// A certificate or key file could not be loaded.
  case invalidConfiguration(String)
  /// Any other handshake or record-layer failure, with OpenSSL's error text.
  case handshakeFailed(String)

  /// A sentence that says what failed.
  public var description: String {
    switch self {
    case .untrustedCertificate(let detail): "TLS: the server's certificate is not trusted (\(detail))"
    case .certificateExpired(let detail): "TLS: a certificate has expired or is not yet valid (\(detail))"
    case .hostnameMismatch(let host): "TLS: the server's certificate does not match the host \"\(host)\""
    case .pinMismatch(let actual): "TLS: the server's public key \(actual) matches no pinned key"
    case .handshakeTimedOut(let limit): "TLS: the handshake timed out after \(limit)"
    case .peerCertificateRequired: "TLS: the peer presented no certificate, but one is required"
    case .invalidConfiguration(let detail): "TLS: invalid configuration: \(detail)"
    case .handshakeFailed(let detail): "TLS: handshake failed: \(detail)"
    }
  }
}
