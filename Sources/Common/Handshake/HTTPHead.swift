/// An HTTP version such as 1.1.
public struct HTTPVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The major version.
  public var major: Int
  /// The minor version.
  public var minor: Int

  /// HTTP/1.1, the version the opening handshake requires (RFC 6455 section 4.1).
  public static let http11 = HTTPVersion(major: 1, minor: 1)

  /// Creates a version.
  public init(major: Int, minor: Int) {
    self.major = major
    self.minor = minor
  }

  /// Orders by major, then minor.
  public static func < (lhs: HTTPVersion, rhs: HTTPVersion) -> Bool {
    (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
  }

  /// `"HTTP/1.1"`.
  public var description: String { "HTTP/\(major).\(minor)" }
}

/// The head of an HTTP request: request line and header fields.
public struct HTTPRequestHead: Sendable, Hashable {
  /// The method, such as `GET`.
  public var method: String
  /// The request target, such as `/chat?room=1`.
  public var target: String
  /// The HTTP version.
  public var version: HTTPVersion
  /// The header fields.
  public var headers: HTTPHeaders

  /// Creates a request head.
  public init(method: String, target: String, version: HTTPVersion = .http11, headers: HTTPHeaders = HTTPHeaders()) {
    self.method = method
    self.target = target
    self.version = version
    self.headers = headers
  }

  /// The path part of the target (before `?`).
  public var path: String { String(target.prefix { $0 != "?" && $0 != "#" }) }

  /// The query part of the target (after `?`, before `#`), without the `?`; `nil` when there is none.
  public var query: String? {
    guard let mark = target.firstIndex(of: "?") else { return nil }
    return String(target[target.index(after: mark)...].prefix { $0 != "#" })
  }

  /// The head as bytes on the wire, ending with the empty line.
  public func serialized() -> [UInt8] {
    var text = "\(method) \(target) \(version)\r\n"
    for field in headers { text += "\(field.name): \(field.value)\r\n" }
    text += "\r\n"
    return Array(text.utf8)
  }
}

/// The head of an HTTP response: status line and header fields.
public struct HTTPResponseHead: Sendable, Hashable {
  /// The HTTP version.
  public var version: HTTPVersion
  /// The status code, such as 101.
  public var status: Int
  /// The reason phrase, such as `Switching Protocols`.
  public var reason: String
  /// The header fields.
  public var headers: HTTPHeaders

  /// Creates a response head; an empty reason is replaced by the standard phrase for `status`.
  public init(version: HTTPVersion = .http11, status: Int, reason: String = "", headers: HTTPHeaders = HTTPHeaders()) {
    self.version = version
    self.status = status
    self.reason = reason.isEmpty ? Self.standardReason(status) : reason
    self.headers = headers
  }

  /// The head as bytes on the wire, ending with the empty line.
  public func serialized() -> [UInt8] {
    var text = "\(version) \(status) \(reason)\r\n"
    for field in headers { text += "\(field.name): \(field.value)\r\n" }
    text += "\r\n"
    return Array(text.utf8)
  }

  /// The reason phrase commonly sent with `status`.
  public static func standardReason(_ status: Int) -> String {
    switch status {
    case 101: "Switching Protocols"
    case 200: "OK"
    case 204: "No Content"
    case 301: "Moved Permanently"
    case 302: "Found"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 408: "Request Timeout"
    case 426: "Upgrade Required"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 503: "Service Unavailable"
    case 505: "HTTP Version Not Supported"
    default: "Status \(status)"
    }
  }
}
