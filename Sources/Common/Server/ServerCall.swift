/// What a route handler knows about its request (Ktor's `call`): the request head, the path parameters, the query
/// parameters and the peer.
public struct ServerCall: Sendable {
  /// The request head as received (method, target, headers).
  public let request: HTTPRequestHead
  /// The route's path parameters (`/chat/{room}` gives `["room": ...]`), percent-decoded.
  public let parameters: [String: String]
  /// The query parameters in order, percent-decoded (`+` is a space); a name may repeat.
  public let queryParameters: [(name: String, value: String)]
  /// The peer's address, for logs (`"127.0.0.1:51234"`, `"memory"` in the test host).
  public var remoteAddress: String { remote.description }
  /// Where ``remoteAddress`` comes from: a server's call keeps the transport the request came on and formats its
  /// peer when asked (an address's text is longer than a string holds inline: an allocation per idle session,
  /// issue 34).
  private let remote: Remote
  /// The certificate the client presented over TLS (when the server asks for one:
  /// `TLSServerConfiguration.clientCertificateAuthorityFile`); `nil` otherwise.
  public var peerCertificate: PeerCertificate? { certificate?.value }
  /// ``peerCertificate`` boxed: most calls have none, and a certificate inline is 40 bytes in every session's call
  /// (memory per idle session, issue 34).
  private let certificate: CertificateBox?
  /// What the route's ``UpgradeCheck``s handed to the handler: `call.attribute(User.self)`.
  public internal(set) var attributes: CallAttributes

  /// Creates a call.
  public init(
    request: HTTPRequestHead, parameters: [String: String], remoteAddress: String,
    peerCertificate: PeerCertificate? = nil, attributes: CallAttributes = CallAttributes()
  ) {
    self.init(request: request, parameters: parameters, remote: .text(remoteAddress), peerCertificate: peerCertificate)
    self.attributes = attributes
  }

  /// A call whose peer is read from `transport` when asked.
  package init(
    request: HTTPRequestHead, parameters: [String: String], transport: any Transport, peerCertificate: PeerCertificate?
  ) {
    self.init(request: request, parameters: parameters, remote: .transport(transport), peerCertificate: peerCertificate)
  }

  private init(
    request: HTTPRequestHead, parameters: [String: String], remote: Remote, peerCertificate: PeerCertificate?
  ) {
    self.request = request
    self.parameters = parameters
    self.remote = remote
    self.certificate = peerCertificate.map(CertificateBox.init)
    self.attributes = CallAttributes()
    self.queryParameters = Self.parseQuery(request.query ?? "")
  }

  /// A certificate kept by reference.
  private final class CertificateBox: Sendable {
    let value: PeerCertificate
    init(_ value: PeerCertificate) { self.value = value }
  }

  /// The peer as given, or the transport that describes it.
  private enum Remote: Sendable {
    case text(String)
    case transport(any Transport)

    var description: String {
      switch self {
      case .text(let text): text
      case .transport(let transport): transport.peerDescription
      }
    }
  }

  /// The value of type `type` that an upgrade check accepted the request with (the authenticated user), if any.
  public func attribute<Value: Sendable>(_ type: Value.Type) -> Value? {
    attributes.get(type)
  }

  /// The request's cookies (`Cookie` headers, RFC 6265 section 5.4: `name=value` pairs separated by `;`), by name;
  /// the first of a repeated name wins. Values are as sent (a surrounding pair of quotes removed).
  public var cookies: [String: String] {
    var cookies: [String: String] = [:]
    for header in request.headers.values(name: "Cookie") {
      for pair in header.split(separator: ";") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = HTTPSyntax.trimmingWhitespace(parts[0])
        guard !name.isEmpty, parts.count == 2, cookies[name] == nil else { continue }
        var value = HTTPSyntax.trimmingWhitespace(parts[1])
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
          value = String(value.dropFirst().dropLast())
        }
        cookies[name] = value
      }
    }
    return cookies
  }

  /// The first cookie named `name`.
  public func cookie(_ name: String) -> String? { cookies[name] }

  /// The first query parameter named `name`.
  public func query(_ name: String) -> String? {
    queryParameters.first { $0.name == name }?.value
  }

  /// A request header (case-insensitive name; repeated fields joined with ", ").
  public func header(_ name: String) -> String? {
    request.headers[name]
  }

  static func parseQuery(_ query: String) -> [(name: String, value: String)] {
    query.split(separator: "&", omittingEmptySubsequences: true).compactMap { pair in
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard let name = PercentDecoding.decode(parts[0], plusIsSpace: true) else { return nil }
      let value = parts.count > 1 ? PercentDecoding.decode(parts[1], plusIsSpace: true) : ""
      return value.map { (name, $0) }
    }
  }
}
