/// The parameters of one permessage-deflate offer or response (RFC 7692 section 7.1), parsed and checked.
struct PerMessageDeflateParameters: Equatable {
  var serverNoContextTakeover = false
  var clientNoContextTakeover = false
  /// `server_max_window_bits`, when present.
  var serverMaxWindowBits: Int?
  /// `client_max_window_bits`: absent (`nil`), present without a value (`.some(nil)`), or with one.
  var clientMaxWindowBits: Int??

  static let name = "permessage-deflate"

  /// Parses `offer`'s parameters. RFC 7692 section 7.1: an offer or response with an unknown parameter, a
  /// parameter given twice, or an invalid value is refused (a server declines it, a client fails).
  init(_ offer: ExtensionOffer) throws(HandshakeError) {
    var seen: Set<String> = []
    for parameter in offer.parameters {
      let name = parameter.name.lowercased()
      guard seen.insert(name).inserted else {
        throw .malformedExtensionHeader("permessage-deflate parameter \(name) appears twice")
      }
      switch name {
      case "server_no_context_takeover", "client_no_context_takeover":
        guard parameter.value == nil else {
          throw .malformedExtensionHeader("permessage-deflate parameter \(name) takes no value")
        }
        if name == "server_no_context_takeover" {
          serverNoContextTakeover = true
        } else {
          clientNoContextTakeover = true
        }
      case "server_max_window_bits":
        serverMaxWindowBits = try Self.windowBits(parameter.value, name: name)
      case "client_max_window_bits":
        clientMaxWindowBits = .some(
          try parameter.value.map { value throws(HandshakeError) in
            try Self.windowBits(value, name: name)
          })
      default:
        throw .malformedExtensionHeader("unknown permessage-deflate parameter \(parameter.name)")
      }
    }
  }

  init() {}

  /// RFC 7692 section 7.1.2: "a decimal integer value without leading zeroes between 8 to 15, inclusive".
  private static func windowBits(_ value: String?, name: String) throws(HandshakeError) -> Int {
    guard let value, let bits = Int(value), (8...15).contains(bits), String(bits) == value else {
      throw .malformedExtensionHeader("permessage-deflate \(name) must be 8 to 15, got \(value ?? "no value")")
    }
    return bits
  }

  /// The header form.
  var offer: ExtensionOffer {
    var parameters: [ExtensionOffer.Parameter] = []
    if serverNoContextTakeover { parameters.append(.init(name: "server_no_context_takeover")) }
    if clientNoContextTakeover { parameters.append(.init(name: "client_no_context_takeover")) }
    if let serverMaxWindowBits {
      parameters.append(.init(name: "server_max_window_bits", value: "\(serverMaxWindowBits)"))
    }
    if let clientMaxWindowBits {
      parameters.append(.init(name: "client_max_window_bits", value: clientMaxWindowBits.map { "\($0)" }))
    }
    return ExtensionOffer(name: Self.name, parameters: parameters)
  }
}
