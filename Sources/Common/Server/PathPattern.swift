/// A route's path: literal segments, `{name}` parameters, an optional `{name?}` last segment and a `{...}` tail,
/// as in Ktor's routing (`/chat/{room}`, `/files/{path...}`).
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
  enum Segment: Sendable, Hashable {
    case literal(String)
    case parameter(String)
    case optionalParameter(String)
    case tail(String?)
  }

  let segments: [Segment]
  /// The pattern as written.
  public let description: String

  /// Parses `pattern`: segments split at `/`; `{name}`, `{name?}`, `{name...}` and `{...}` are parameters.
  public init(_ pattern: String) {
    description = pattern
    segments = pattern.split(separator: "/", omittingEmptySubsequences: true).map { part in
      guard part.hasPrefix("{"), part.hasSuffix("}") else { return .literal(String(part)) }
      let name = String(part.dropFirst().dropLast())
      if name == "..." { return .tail(nil) }
      if name.hasSuffix("...") { return .tail(String(name.dropLast(3))) }
      if name.hasSuffix("?") { return .optionalParameter(String(name.dropLast())) }
      return .parameter(name)
    }
  }

  /// The parameters when `path` (already without its query) matches, else `nil`. Segments are percent-decoded
  /// before comparison; an undecodable segment never matches.
  public func match(_ path: String) -> [String: String]? {
    var parts: [String] = []
    for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
      guard let decoded = PercentDecoding.decode(raw) else { return nil }
      parts.append(decoded)
    }
    var parameters: [String: String] = [:]
    var index = 0
    for segment in segments {
      switch segment {
      case .literal(let text):
        guard index < parts.count, parts[index] == text else { return nil }
        index += 1
      case .parameter(let name):
        guard index < parts.count else { return nil }
        parameters[name] = parts[index]
        index += 1
      case .optionalParameter(let name):
        if index < parts.count {
          parameters[name] = parts[index]
          index += 1
        }
      case .tail(let name):
        if let name { parameters[name] = parts[index...].joined(separator: "/") }
        index = parts.count
      }
    }
    return index == parts.count ? parameters : nil
  }
}

/// `%XX` decoding of URL components (RFC 3986 section 2.1); `+` becomes a space in query components.
enum PercentDecoding {
  /// Decodes `text`; `nil` when an escape is malformed or the result is not UTF-8.
  static func decode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
    guard text.contains("%") || (plusIsSpace && text.contains("+")) else { return String(text) }
    var bytes: [UInt8] = []
    var utf8 = text.utf8[...]
    while let byte = utf8.popFirst() {
      if byte == UInt8(ascii: "%") {
        guard let high = utf8.popFirst().flatMap(hexValue), let low = utf8.popFirst().flatMap(hexValue) else {
          return nil
        }
        bytes.append(high << 4 | low)
      } else if plusIsSpace && byte == UInt8(ascii: "+") {
        bytes.append(UInt8(ascii: " "))
      } else {
        bytes.append(byte)
      }
    }
    return String(validating: bytes, as: UTF8.self)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
