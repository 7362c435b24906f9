/// A value of RESP2, the Redis serialization protocol (https://redis.io/docs/latest/develop/reference/protocol-spec/).
public enum RESPValue: Sendable, Hashable {
  /// `+OK\r\n`
  case simpleString(String)
  /// `-ERR message\r\n`
  case error(String)
  /// `:42\r\n`
  case integer(Int64)
  /// `$5\r\nhello\r\n`, binary safe; `nil` for the null bulk string `$-1\r\n`.
  case bulkString([UInt8]?)
  /// `*2\r\n...`; `nil` for the null array `*-1\r\n`.
  case array([RESPValue]?)

  /// The bytes of a bulk or simple string, else `nil`.
  public var bytes: [UInt8]? {
    switch self {
    case .bulkString(let bytes): bytes
    case .simpleString(let string): Array(string.utf8)
    default: nil
    }
  }

  /// The text of a bulk or simple string (invalid UTF-8 repaired), else `nil`.
  public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

  /// Encodes a command as RESP clients send it: an array of bulk strings.
  public static func command(_ parts: [[UInt8]], into output: inout [UInt8]) {
    output.append(UInt8(ascii: "*"))
    output.append(contentsOf: String(parts.count).utf8)
    output.append(contentsOf: [13, 10])
    for part in parts {
      output.append(UInt8(ascii: "$"))
      output.append(contentsOf: String(part.count).utf8)
      output.append(contentsOf: [13, 10])
      output.append(contentsOf: part)
      output.append(contentsOf: [13, 10])
    }
  }

  /// ``command(_:into:)`` for text parts.
  public static func command(_ parts: String..., into output: inout [UInt8]) {
    command(parts.map { Array($0.utf8) }, into: &output)
  }
}
