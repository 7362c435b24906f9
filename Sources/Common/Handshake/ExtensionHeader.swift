/// One extension in a `Sec-WebSocket-Extensions` header: a name and its parameters, such as
/// `permessage-deflate; client_max_window_bits=10`.
public struct ExtensionOffer: Sendable, Hashable, CustomStringConvertible {
  /// One `name[=value]` parameter.
  public struct Parameter: Sendable, Hashable {
    /// The parameter's name.
    public var name: String
    /// The value (after quoted-string unescaping), or `nil` for a parameter without one.
    public var value: String?

    /// Creates a parameter.
    public init(name: String, value: String? = nil) {
      self.name = name
      self.value = value
    }
  }

  /// The extension's registered token, such as `permessage-deflate`.
  public var name: String
  /// The parameters in order.
  public var parameters: [Parameter]

  /// Creates an offer.
  public init(name: String, parameters: [Parameter] = []) {
    self.name = name
    self.parameters = parameters
  }

  /// The header form: `name; param; param=value`.
  public var description: String {
    ([name] + parameters.map { parameter in parameter.value.map { "\(parameter.name)=\($0)" } ?? parameter.name })
      .joined(separator: "; ")
  }
}

/// The grammar of `Sec-WebSocket-Extensions` (RFC 6455 section 9.1):
///
/// ```text
/// extension-list = 1#extension
/// extension = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
/// "When using the quoted-string syntax variant, the value after quoted-string unescaping MUST conform to the
/// 'token' ABNF."
public enum ExtensionHeader {
  /// Parses every `Sec-WebSocket-Extensions` value of a head (several header lines join as one list).
  public static func parse(_ values: [String]) throws(HandshakeError) -> [ExtensionOffer] {
    var offers: [ExtensionOffer] = []
    for value in values { offers += try parse(value) }
    return offers
  }

  /// Parses one header value into its extensions, in order.
  public static func parse(_ value: String) throws(HandshakeError) -> [ExtensionOffer] {
    var scanner = Scanner(bytes: Array(value.utf8))
    var offers: [ExtensionOffer] = []
    while true {
      scanner.skipWhitespace()
      if scanner.atEnd { break }
      // Empty list elements (",,") are allowed by the list rule of RFC 7230 section 7.
      if scanner.consume(UInt8(ascii: ",")) { continue }
      guard let name = scanner.token() else { throw .malformedExtensionHeader(value) }
      var offer = ExtensionOffer(name: name)
      scanner.skipWhitespace()
      while scanner.consume(UInt8(ascii: ";")) {
        scanner.skipWhitespace()
        guard let parameterName = scanner.token() else { throw .malformedExtensionHeader(value) }
        scanner.skipWhitespace()
        var parameterValue: String? = nil
        if scanner.consume(UInt8(ascii: "=")) {
          scanner.skipWhitespace()
          if let token = scanner.token() {
            parameterValue = token
          } else if let quoted = scanner.quotedString(), HTTPSyntax.isToken(quoted) {
            parameterValue = quoted
          } else {
            throw .malformedExtensionHeader(value)
          }
          scanner.skipWhitespace()
        }
        offer.parameters.append(ExtensionOffer.Parameter(name: parameterName, value: parameterValue))
      }
      offers.append(offer)
      scanner.skipWhitespace()
      if scanner.atEnd { break }
      guard scanner.consume(UInt8(ascii: ",")) else { throw .malformedExtensionHeader(value) }
    }
    return offers
  }

  /// The header value for `offers`.
  public static func serialize(_ offers: [ExtensionOffer]) -> String {
    offers.map(\.description).joined(separator: ", ")
  }

  private struct Scanner {
    let bytes: [UInt8]
    var index = 0

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
      while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
      guard index < bytes.count, bytes[index] == byte else { return false }
      index += 1
      return true
    }

    mutating func token() -> String? {
      let start = index
      while index < bytes.count, HTTPSyntax.isTokenCharacter(bytes[index]) { index += 1 }
      return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE` (RFC 7230 section 3.2.6), unescaped.
    mutating func quotedString() -> String? {
      guard consume(UInt8(ascii: "\"")) else { return nil }
      var result: [UInt8] = []
      while index < bytes.count {
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return String(decoding: result, as: UTF8.self)
        case UInt8(ascii: "\\"):
          guard index < bytes.count else { return nil }
          result.append(bytes[index])
          index += 1
        default: result.append(byte)
        }
      }
      return nil
    }
  }
}
