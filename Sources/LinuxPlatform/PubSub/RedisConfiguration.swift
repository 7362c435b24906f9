import WispCommon

/// Where and how ``RedisPubSub`` reaches Redis, and the bounds on every wait and buffer.
public struct RedisConfiguration: Sendable {
  /// The server. Default `127.0.0.1:6379`.
  public var endpoint: Endpoint = .host("127.0.0.1", port: 6379)
  /// The nodes of a Redis Cluster to learn the slot map from (any masters or replicas; the others are found from
  /// `CLUSTER SLOTS`); empty (default): one server at ``endpoint``. A `redis+cluster://` URL sets them.
  public var clusterNodes: [Endpoint] = []
  /// The ACL user for `AUTH` (Redis 6 and later); `nil`: the default user.
  public var username: String?
  /// The password for `AUTH`; `nil`: no `AUTH`.
  public var password: String?
  /// Prepended to a topic to make its Redis channel, so that several applications can share one Redis.
  /// Default `"wisp:"`.
  public var channelPrefix = "wisp:"
  /// The longest wait to connect (name resolution and TCP). Default 5 s.
  public var connectTimeout: Duration = .seconds(5)
  /// The longest wait for a reply: AUTH, a subscription's confirmation, a PUBLISH's count, a health check's PONG.
  /// A Redis that stalls longer is treated as gone (the connection is closed and made again). Default 5 s.
  public var replyTimeout: Duration = .seconds(5)
  /// How often an idle connection is checked with PING. Default 1 s.
  public var healthCheckInterval: Duration = .seconds(1)
  /// The backoff between attempts to reconnect (full jitter). Default 50 ms growing to at most 2 s.
  public var reconnect: ReconnectPolicy = {
    var policy = ReconnectPolicy()
    policy.initialDelay = .milliseconds(50)
    policy.maxDelay = .seconds(2)
    return policy
  }()
  /// The most bytes of messages published and not yet written to Redis (while it is slow or unreachable). Beyond it
  /// `Topics/publish(_:to:)` throws `PubSubError/bufferFull(limit:)`: the message reached this process only.
  /// Default 4 MiB.
  public var outgoingBufferLimit = 4 * 1024 * 1024
  /// The bounds on what Redis may send (`RESPParser/Limits`).
  public var parserLimits = RESPParser.Limits()

  /// The defaults (Redis on `127.0.0.1:6379`).
  public init() {}

  /// The settings of a `redis://[[user]:password@]host[:port]` URL (port default 6379), or of a
  /// `redis+cluster://[[user]:password@]host[:port][,host[:port]...]` URL: the nodes of a Redis Cluster
  /// (``clusterNodes``).
  ///
  /// - Throws: ``RedisURLError`` for another scheme or a malformed URL.
  public init(url: String) throws(RedisURLError) {
    let cluster = url.hasPrefix("redis+cluster://")
    guard url.hasPrefix("redis://") || cluster else {
      throw RedisURLError(url: url, reason: "the scheme must be redis:// or redis+cluster://")
    }
    var rest = Substring(url.drop { $0 != ":" }.dropFirst(3))
    if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
    if let at = rest.lastIndex(of: "@") {
      let credentials = rest[..<at]
      rest = rest[rest.index(after: at)...]
      if let colon = credentials.firstIndex(of: ":") {
        let user = credentials[..<colon]
        username = user.isEmpty ? nil : String(user)
        password = String(credentials[credentials.index(after: colon)...])
      } else {
        password = String(credentials)
      }
    }
    let hosts = rest.split(separator: ",", omittingEmptySubsequences: false)
    guard cluster || hosts.count == 1 else { throw RedisURLError(url: url, reason: "one host, or redis+cluster://") }
    var endpoints: [Endpoint] = []
    for host in hosts { endpoints.append(try Self.endpoint(host, url: url)) }
    endpoint = endpoints[0]
    if cluster { clusterNodes = endpoints }
  }

  private static func endpoint(_ text: Substring, url: String) throws(RedisURLError) -> Endpoint {
    var host = text
    var port = 6379
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      host = text[text.index(after: text.startIndex)..<close]
      let after = text[text.index(after: close)...]
      if after.hasPrefix(":") {
        guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
          throw RedisURLError(url: url, reason: "bad port")
        }
        port = value
      }
    } else if let colon = text.lastIndex(of: ":") {
      host = text[..<colon]
      guard let value = Int(text[text.index(after: colon)...]), (1...65535).contains(value) else {
        throw RedisURLError(url: url, reason: "bad port")
      }
      port = value
    }
    guard !host.isEmpty else { throw RedisURLError(url: url, reason: "no host") }
    return .host(String(host), port: port)
  }
}

/// A `redis://` URL that could not be used.
public struct RedisURLError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The URL.
  public var url: String
  /// What is wrong with it.
  public var reason: String

  /// A sentence for people.
  public var description: String { "invalid Redis URL \(url): \(reason)" }
}
