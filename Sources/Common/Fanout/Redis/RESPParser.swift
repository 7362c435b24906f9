/// An incremental, bounded RESP2 parser: bytes in as they arrive, whole values out. A peer that sends something
/// else than RESP, or values beyond the limits, gets a ``RESPProtocolError``; the parser never holds more than
/// ``Limits/maxBufferedBytes``.
public struct RESPParser: Sendable {
  /// The bounds on what the peer may send.
  public struct Limits: Sendable, Hashable {
    /// The longest bulk string, in bytes. Default 64 MiB: a 16 MiB WebSocket message with its envelope fits.
    public var maxBulkLength: Int = 64 * 1024 * 1024
    /// The most elements of one array. Default 1,024 (pub/sub replies have three; SUBSCRIBE confirmations one each).
    public var maxArrayCount: Int = 1024
    /// The deepest nesting of arrays. Default 4.
    public var maxDepth: Int = 4
    /// The longest line (simple string, error, integer, length), in bytes. Default 64 KiB.
    public var maxLineLength: Int = 64 * 1024
    /// The most bytes held while a value is incomplete: a bulk string plus its framing. Default 64 MiB + 64 KiB.
    public var maxBufferedBytes: Int = 64 * 1024 * 1024 + 64 * 1024

    /// The defaults.
    public init() {}
  }

  /// The bounds in force.
  public let limits: Limits
  private var buffer: [UInt8] = []
  private var offset = 0

  /// A parser with `limits`.
  public init(limits: Limits = Limits()) {
    self.limits = limits
  }

  /// Bytes received and not yet parsed into values.
  public var bufferedCount: Int { buffer.count - offset }

  /// Adds received bytes.
  ///
  /// - Throws: ``RESPProtocolError/tooLarge(_:)`` when more than ``Limits/maxBufferedBytes`` would be held.
  public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(RESPProtocolError) {
    try makeRoom(for: bytes.count)
    buffer.append(contentsOf: bytes)
  }

  /// ``append(_:)`` for an array.
  public mutating func append(_ bytes: [UInt8]) throws(RESPProtocolError) {
    try makeRoom(for: bytes.count)
    buffer.append(contentsOf: bytes)
  }

  /// Drops the parsed bytes when that is cheap, and checks the bound.
  private mutating func makeRoom(for count: Int) throws(RESPProtocolError) {
    if offset > 0, offset == buffer.count {
      buffer.removeAll(keepingCapacity: buffer.capacity <= 1024 * 1024)
      offset = 0
    }
    guard buffer.count - offset + count <= limits.maxBufferedBytes else {
      throw .tooLarge("more than \(limits.maxBufferedBytes) bytes of an incomplete reply")
    }
    if offset > 0, offset >= buffer.count / 2 {
      buffer.removeFirst(offset)
      offset = 0
    }
  }

  /// The next whole value, or `nil` when more bytes are needed.
  public mutating func next() throws(RESPProtocolError) -> RESPValue? {
    var position = offset
    guard let value = try parseValue(at: &position, depth: 0) else { return nil }
    offset = position
    return value
  }

  private func parseValue(at position: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
    guard position < buffer.count else { return nil }
    let kind = buffer[position]
    var cursor = position + 1
    guard let line = try readLine(at: &cursor) else { return nil }
    let value: RESPValue
    switch kind {
    case UInt8(ascii: "+"):
      value = .simpleString(String(decoding: line, as: UTF8.self))
    case UInt8(ascii: "-"):
      value = .error(String(decoding: line, as: UTF8.self))
    case UInt8(ascii: ":"):
      value = .integer(try Self.integer(line))
    case UInt8(ascii: "$"):
      let length = try Self.integer(line)
      if length == -1 {
        value = .bulkString(nil)
        break
      }
      guard length >= 0 else { throw .malformed("negative bulk length \(length)") }
      guard length <= limits.maxBulkLength else {
        throw .tooLarge("bulk string of \(length) bytes (limit \(limits.maxBulkLength))")
      }
      let count = Int(length)
      guard buffer.count - cursor >= count + 2 else { return nil }
      guard buffer[cursor + count] == 13, buffer[cursor + count + 1] == 10 else {
        throw .malformed("bulk string not followed by CRLF")
      }
      value = .bulkString(Array(buffer[cursor..<cursor + count]))
      cursor += count + 2
    case UInt8(ascii: "*"):
      let count = try Self.integer(line)
      if count == -1 {
        value = .array(nil)
        break
      }
      guard count >= 0 else { throw .malformed("negative array length \(count)") }
      guard count <= limits.maxArrayCount else {
        throw .tooLarge("array of \(count) elements (limit \(limits.maxArrayCount))")
      }
      guard depth < limits.maxDepth else { throw .tooLarge("arrays nested deeper than \(limits.maxDepth)") }
      var elements: [RESPValue] = []
      elements.reserveCapacity(Int(count))
      for _ in 0..<count {
        guard let element = try parseValue(at: &cursor, depth: depth + 1) else { return nil }
        elements.append(element)
      }
      value = .array(elements)
    default:
      throw .malformed("unknown type byte 0x\(String(kind, radix: 16))")
    }
    position = cursor
    return value
  }

  /// The bytes up to the next CRLF (the cursor moves past it), or `nil` when it has not arrived.
  private func readLine(at cursor: inout Int) throws(RESPProtocolError) -> ArraySlice<UInt8>? {
    var index = cursor
    let end = min(buffer.count, cursor + limits.maxLineLength + 2)
    while index + 1 < end {
      if buffer[index] == 13 {
        guard buffer[index + 1] == 10 else { throw .malformed("CR without LF") }
        let line = buffer[cursor..<index]
        cursor = index + 2
        return line
      }
      index += 1
    }
    if buffer.count - cursor > limits.maxLineLength + 1 {
      throw .tooLarge("a line longer than \(limits.maxLineLength) bytes")
    }
    return nil
  }

  private static func integer(_ line: ArraySlice<UInt8>) throws(RESPProtocolError) -> Int64 {
    var digits = line[...]
    let negative = digits.first == UInt8(ascii: "-")
    if negative { digits = digits.dropFirst() }
    guard !digits.isEmpty, digits.count <= 18 else { throw .malformed("bad integer") }
    var value: Int64 = 0
    for digit in digits {
      guard digit >= 48, digit <= 57 else { throw .malformed("bad integer") }
      value = value * 10 + Int64(digit - 48)
    }
    return negative ? -value : value
  }
}

/// What made the RESP parser give up on a connection.
public enum RESPProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Bytes that are not RESP.
  case malformed(String)
  /// A value beyond ``RESPParser/Limits``.
  case tooLarge(String)

  /// A sentence for logs.
  public var description: String {
    switch self {
    case .malformed(let what): "malformed RESP: \(what)"
    case .tooLarge(let what): "RESP value too large: \(what)"
    }
  }
}
