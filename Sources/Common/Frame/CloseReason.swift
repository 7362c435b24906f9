/// Why a WebSocket connection closed: a status code and a short UTF-8 message (RFC 6455 section 7.4), Ktor's
/// `CloseReason`.
///
/// The message is limited to 123 bytes of UTF-8 so that the close frame payload (2 bytes of code plus the
/// message) fits the 125-byte limit of control frames. A longer message is cut at the last whole Unicode scalar
/// that fits, so constructing a reason never fails.
public struct CloseReason: Sendable, Hashable, CustomStringConvertible {
  /// The largest message, in UTF-8 bytes, that fits a close frame next to its 2-byte code.
  public static let maxMessageBytes = 123

  /// The status code.
  public let code: Code
  /// The reason text; at most ``maxMessageBytes`` bytes of UTF-8.
  public let message: String

  /// Creates a close reason; `message` is cut to at most 123 UTF-8 bytes on a scalar boundary.
  public init(code: Code, message: String = "") {
    self.code = code
    self.message = Self.truncated(message)
  }

  /// Creates a close reason from a code; `message` is cut to at most 123 UTF-8 bytes on a scalar boundary.
  public init(_ code: Code, _ message: String = "") {
    self.init(code: code, message: message)
  }

  /// The known meaning of ``code``, or `nil` for application (3000-4999) or unknown codes.
  public var knownReason: Code? { Code.named.contains(code) ? code : nil }

  /// `"1000 NORMAL: bye"`-style rendering, for logs.
  public var description: String {
    message.isEmpty ? "\(code)" : "\(code): \(message)"
  }

  /// The close frame payload: the code in network byte order followed by the UTF-8 message
  /// (RFC 6455 section 5.5.1).
  public var payload: [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(2 + message.utf8.count)
    bytes.append(UInt8(truncatingIfNeeded: code.rawValue >> 8))
    bytes.append(UInt8(truncatingIfNeeded: code.rawValue))
    bytes.append(contentsOf: message.utf8)
    return bytes
  }

  /// Parses the payload of a received close frame.
  ///
  /// - Returns: `nil` for an empty payload: "If there is no such data in the Close control frame, _The
  ///   WebSocket Connection Close Code_ is considered to be 1005" (RFC 6455 section 7.1.5).
  /// - Throws: ``ProtocolViolation/invalidClosePayload`` for a 1-byte payload,
  ///   ``ProtocolViolation/invalidCloseCode(_:)`` for a code that may not be sent (section 7.4), and
  ///   ``ProtocolViolation/invalidUTF8`` when the reason is not UTF-8 ("the body MAY contain UTF-8-encoded data",
  ///   section 5.5.1; invalid data is a 1007 per section 8.1).
  public static func parse(closePayload payload: some Collection<UInt8>) throws(ProtocolViolation) -> CloseReason? {
    if payload.isEmpty { return nil }
    guard payload.count >= 2 else { throw .invalidClosePayload }
    var iterator = payload.makeIterator()
    let high = UInt16(iterator.next() ?? 0)
    let low = UInt16(iterator.next() ?? 0)
    let code = Code(rawValue: high << 8 | low)
    guard code.isValidOnWire else { throw .invalidCloseCode(code.rawValue) }
    let messageBytes = payload.dropFirst(2)
    var validator = UTF8Validator()
    guard validator.validate(messageBytes), validator.isComplete else { throw .invalidUTF8 }
    return CloseReason(code: code, message: String(decoding: messageBytes, as: UTF8.self))
  }

  static func truncated(_ message: String) -> String {
    if message.utf8.count <= maxMessageBytes { return message }
    var result = ""
    var used = 0
    for scalar in message.unicodeScalars {
      let width = UTF8.width(scalar)
      if used + width > maxMessageBytes { break }
      used += width
      result.unicodeScalars.append(scalar)
    }
    return result
  }
}

extension CloseReason {
  /// A close status code (RFC 6455 section 7.4), Ktor's `CloseReason.Codes`.
  ///
  /// Both the Ktor names and the names of RFC 6455 / the IANA registry are available, so a user coming from
  /// either finds theirs: `.tooBig` and `.messageTooBig` are the same code 1009. Any other value can be made from
  /// an integer literal: `let code: CloseReason.Code = 4000`.
  public struct Code: RawRepresentable, Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The 16-bit code as sent on the wire.
    public let rawValue: UInt16

    /// Creates a code from its numeric value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Creates a code from an integer literal such as `4000`.
    public init(integerLiteral value: UInt16) { self.rawValue = value }

    /// 1000: normal closure; the purpose for which the connection was established has been fulfilled.
    public static let normal: Code = 1000
    /// 1001: an endpoint is "going away", such as a server going down or a browser navigating away.
    public static let goingAway: Code = 1001
    /// 1002: an endpoint is terminating the connection due to a protocol error.
    public static let protocolError: Code = 1002
    /// 1003: an endpoint received a type of data it cannot accept (Ktor: `CANNOT_ACCEPT`).
    public static let cannotAccept: Code = 1003
    /// 1003 under its RFC/IANA name (`UNSUPPORTED_DATA`).
    public static let unsupportedData: Code = 1003
    /// 1005: no status code was present. Reserved: never sent in a close frame.
    public static let noStatus: Code = 1005
    /// 1006: the connection closed without a close frame. Reserved: never sent in a close frame.
    public static let abnormalClosure: Code = 1006
    /// 1007: data within a message was not consistent with its type, e.g. non-UTF-8 text (Ktor: `NOT_CONSISTENT`).
    public static let notConsistent: Code = 1007
    /// 1007 under its RFC/IANA name (`INVALID_PAYLOAD`).
    public static let invalidPayload: Code = 1007
    /// 1008: a message violated the endpoint's policy (Ktor: `VIOLATED_POLICY`).
    public static let violatedPolicy: Code = 1008
    /// 1008 under its RFC/IANA name (`POLICY_VIOLATION`).
    public static let policyViolation: Code = 1008
    /// 1009: a message was too big to process (Ktor: `TOO_BIG`).
    public static let tooBig: Code = 1009
    /// 1009 under its RFC/IANA name (`MESSAGE_TOO_BIG`).
    public static let messageTooBig: Code = 1009
    /// 1010: the client expected the server to negotiate an extension that it did not (Ktor: `NO_EXTENSION`).
    public static let noExtension: Code = 1010
    /// 1010 under its RFC/IANA name (`MANDATORY_EXTENSION`).
    public static let mandatoryExtension: Code = 1010
    /// 1011: the server met an unexpected condition (Ktor: `INTERNAL_ERROR`).
    public static let internalError: Code = 1011
    /// 1012: the service is restarting (IANA registry).
    public static let serviceRestart: Code = 1012
    /// 1013: try again later (IANA registry).
    public static let tryAgainLater: Code = 1013
    /// 1014: the gateway received an invalid response (IANA registry).
    public static let badGateway: Code = 1014
    /// 1015: the TLS handshake failed. Reserved: never sent in a close frame.
    public static let tlsHandshakeFailed: Code = 1015

    static let named: Set<Code> = [
      .normal, .goingAway, .protocolError, .cannotAccept, .noStatus, .abnormalClosure, .notConsistent,
      .violatedPolicy, .tooBig, .noExtension, .internalError, .serviceRestart, .tryAgainLater, .badGateway,
      .tlsHandshakeFailed,
    ]

    /// Whether this code may appear in a close frame (RFC 6455 section 7.4).
    ///
    /// Valid: the defined codes 1000-1003 and 1007-1011, the IANA-registered 1012-1014, and 3000-4999 (libraries,
    /// frameworks and applications). Invalid: below 1000; 1004 (reserved); 1005, 1006 and 1015 ("MUST NOT be set
    /// as a status code in a Close control frame by an endpoint"); 1016-2999 (reserved for future revisions);
    /// 5000 and above (not defined).
    public var isValidOnWire: Bool {
      switch rawValue {
      case 1000...1003, 1007...1014, 3000...4999: true
      default: false
      }
    }

    /// `"1000 NORMAL"`-style rendering with the Ktor name where one exists.
    public var description: String {
      switch self {
      case .normal: "1000 NORMAL"
      case .goingAway: "1001 GOING_AWAY"
      case .protocolError: "1002 PROTOCOL_ERROR"
      case .cannotAccept: "1003 CANNOT_ACCEPT"
      case .noStatus: "1005 NO_STATUS"
      case .abnormalClosure: "1006 CLOSED_ABNORMALLY"
      case .notConsistent: "1007 NOT_CONSISTENT"
      case .violatedPolicy: "1008 VIOLATED_POLICY"
      case .tooBig: "1009 TOO_BIG"
      case .noExtension: "1010 NO_EXTENSION"
      case .internalError: "1011 INTERNAL_ERROR"
      case .serviceRestart: "1012 SERVICE_RESTART"
      case .tryAgainLater: "1013 TRY_AGAIN_LATER"
      case .badGateway: "1014 BAD_GATEWAY"
      case .tlsHandshakeFailed: "1015 TLS_HANDSHAKE_FAILED"
      default: "\(rawValue)"
      }
    }
  }
}
