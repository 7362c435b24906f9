/// The certificate a TLS peer presented (a client certificate, when the server asks for one), as the transport
/// verified it.
public struct PeerCertificate: Sendable, Hashable {
  /// The certificate in DER.
  public let der: [UInt8]
  /// The subject's distinguished name in OpenSSL's one-line form, such as `/CN=wisp test client`.
  public let subject: String
  /// The issuer's distinguished name, in the same form.
  public let issuer: String

  /// Creates a description of a certificate.
  public init(der: [UInt8], subject: String, issuer: String) {
    self.der = der
    self.subject = subject
    self.issuer = issuer
  }
}
