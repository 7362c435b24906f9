/// Which protocol versions and cipher suites a TLS endpoint accepts, as one named choice.
///
/// The default, ``intermediate``, is the Mozilla "intermediate" server profile
/// (https://wiki.mozilla.org/Security/Server_Side_TLS) restricted to ECDHE: TLS 1.2 and 1.3 only, and for TLS 1.2
/// only ephemeral elliptic-curve key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305). Static-RSA key
/// exchange has no forward secrecy, and the CBC suites with SHA-1 MACs are the ones padding-oracle attacks (Lucky
/// Thirteen) target. Every browser and TLS library of the last ten years offers one of the accepted suites.
public struct TLSProfile: Sendable, Hashable {
  /// The oldest protocol version accepted.
  public var minimumVersion: TLSVersion
  /// The TLS 1.2 cipher suites, in OpenSSL's cipher-list syntax (`SSL_CTX_set_cipher_list`); `nil` keeps
  /// OpenSSL's default list. Ignored when ``minimumVersion`` is TLS 1.3.
  public var tls12Ciphers: String?
  /// The TLS 1.3 cipher suites, colon-separated (`SSL_CTX_set_ciphersuites`); `nil` keeps OpenSSL's default (all
  /// three AEAD suites of RFC 8446 that OpenSSL enables: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).
  public var tls13CipherSuites: String?

  /// Creates a profile; `nil` lists keep OpenSSL's defaults.
  public init(minimumVersion: TLSVersion, tls12Ciphers: String? = nil, tls13CipherSuites: String? = nil) {
    self.minimumVersion = minimumVersion
    self.tls12Ciphers = tls12Ciphers
    self.tls13CipherSuites = tls13CipherSuites
  }

  /// Mozilla "intermediate" without the DHE suites (the default): TLS 1.2 and 1.3; for TLS 1.2 only ECDHE with
  /// AES-GCM or ChaCha20-Poly1305, for ECDSA and RSA certificates.
  public static let intermediate = TLSProfile(
    minimumVersion: .tls12,
    tls12Ciphers: [
      "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
      "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":"))

  /// Mozilla "modern": TLS 1.3 only (clients older than about 2018 cannot connect).
  public static let modern = TLSProfile(minimumVersion: .tls13)

  /// OpenSSL's own defaults from TLS 1.2 on, including static-RSA and CBC suites: only for peers that cannot do
  /// better (old embedded clients).
  public static let openSSLDefaults = TLSProfile(minimumVersion: .tls12)
}
