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
  public let remoteAddress: String

  /// Creates a call.
  public init(request: HTTPRequestHead, parameters: [String: String], remoteAddress: String) {
    self.request = request
    self.parameters = parameters
    self.remoteAddress = remoteAddress
    self.queryParameters = Self.parseQuery(request.query ?? "")
  }

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
