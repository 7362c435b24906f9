/// An incremental parser for the head of an HTTP/1.1 request or response (RFC 7230 section 3), with hard limits.
///
/// It consumes bytes only up to the empty line that ends the head, so bytes that follow (the first WebSocket
/// frames, which a peer may send right behind its handshake) stay in the caller's buffer.
package struct HTTPHeadParser: Sendable {
  /// The limits the parser enforces (``HTTPHeadLimits``).
  package typealias Limits = HTTPHeadLimits

  /// The limits in force.
  package let limits: Limits
  private var buffer: [UInt8] = []

  /// Creates a parser.
  package init(limits: Limits = Limits()) {
    self.limits = limits
  }

  /// Consumes bytes up to the end of the head; returns its lines once the empty line has arrived, else `nil`.
  ///
  /// - Throws: ``HandshakeError/headTooLarge(limit:)`` as soon as the head outgrows the limit.
  mutating func readLines(_ input: UnsafeRawBufferPointer, offset: inout Int) throws(HandshakeError) -> [[UInt8]]? {
    while offset < input.count {
      let byte = input[offset]
      offset += 1
      buffer.append(byte)
      if byte == 0x0A, buffer.count >= 4, buffer[buffer.count - 2] == 0x0D, buffer[buffer.count - 3] == 0x0A,
        buffer[buffer.count - 4] == 0x0D
      {
        let lines = splitLines(buffer[..<(buffer.count - 4)])
        buffer = []
        return lines
      }
      guard buffer.count <= limits.maxHeadSize else { throw .headTooLarge(limit: limits.maxHeadSize) }
    }
    return nil
  }

  /// Parses a request head; `nil` until it is complete.
  package mutating func parseRequest(
    _ input: UnsafeRawBufferPointer, offset: inout Int
  ) throws(HandshakeError) -> HTTPRequestHead? {
    guard let lines = try readLines(input, offset: &offset) else { return nil }
    guard let requestLine = lines.first else { throw .malformedStartLine("") }
    let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(HTTPSyntax.isTokenCharacter), !parts[1].isEmpty,
      parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let version = Self.parseVersion(parts[2])
    else { throw .malformedStartLine(Self.printable(requestLine)) }
    let headers = try parseHeaders(lines.dropFirst())
    return HTTPRequestHead(
      method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self),
      version: version, headers: headers)
  }

  /// Parses a response head; `nil` until it is complete.
  package mutating func parseResponse(
    _ input: UnsafeRawBufferPointer, offset: inout Int
  ) throws(HandshakeError) -> HTTPResponseHead? {
    guard let lines = try readLines(input, offset: &offset) else { return nil }
    guard let statusLine = lines.first else { throw .malformedStartLine("") }
    let parts = statusLine.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count >= 2, let version = Self.parseVersion(parts[0]), parts[1].count == 3,
      parts[1].allSatisfy({ (0x30...0x39).contains($0) }), let status = Int(String(decoding: parts[1], as: UTF8.self))
    else { throw .malformedStartLine(Self.printable(statusLine)) }
    let reason = parts.count == 3 ? String(decoding: parts[2], as: UTF8.self) : ""
    let headers = try parseHeaders(lines.dropFirst())
    return HTTPResponseHead(version: version, status: status, reason: reason, headers: headers)
  }

  private func splitLines(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    var start = bytes.startIndex
    var index = bytes.startIndex
    while index < bytes.endIndex {
      if bytes[index] == 0x0D, index + 1 < bytes.endIndex, bytes[index + 1] == 0x0A {
        lines.append(Array(bytes[start..<index]))
        index += 2
        start = index
      } else {
        index += 1
      }
    }
    lines.append(Array(bytes[start..<bytes.endIndex]))
    return lines
  }

  private func parseHeaders(_ lines: ArraySlice<[UInt8]>) throws(HandshakeError) -> HTTPHeaders {
    guard lines.count <= limits.maxHeaderCount else { throw .tooManyHeaders(limit: limits.maxHeaderCount) }
    var headers = HTTPHeaders()
    // Exactly as many fields as lines: a server keeps every session's request for the session's life.
    headers.reserveCapacity(lines.count)
    for line in lines {
      // "A server that receives an obs-fold in a request message ... MUST either reject the message" (RFC 7230
      // section 3.2.4); a name must be a token with no whitespace before the colon.
      guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
        line[..<colon].allSatisfy(HTTPSyntax.isTokenCharacter)
      else { throw .malformedHeader(Self.printable(line)) }
      let rawValue = line[(colon + 1)...]
      // Field values: visible characters, spaces, tabs and obs-text; no other control characters.
      guard rawValue.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
        throw .malformedHeader(Self.printable(line))
      }
      let name = Self.wellKnownName(line[..<colon]) ?? String(decoding: line[..<colon], as: UTF8.self)
      headers.add(name: name, value: HTTPSyntax.trimmingWhitespace(String(decoding: rawValue, as: UTF8.self)))
    }
    return headers
  }

  /// Names longer than a small string (15 bytes) that every upgrade request carries, as literals: a literal
  /// `String` needs no allocation, and a server keeps every session's request (memory per idle session, issue 34).
  private static let wellKnownNames: [String] = [
    "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol",
    "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol",
  ]

  /// The literal for `bytes` when they spell one of ``wellKnownNames`` exactly (same case), else `nil`.
  private static func wellKnownName(_ bytes: ArraySlice<UInt8>) -> String? {
    guard bytes.count > 15 else { return nil }
    return wellKnownNames.first { $0.utf8.elementsEqual(bytes) }
  }

  private static func parseVersion(_ bytes: some Collection<UInt8>) -> HTTPVersion? {
    let text = Array(bytes)
    guard text.count == 8, text.starts(with: Array("HTTP/".utf8)), text[6] == UInt8(ascii: "."),
      (0x30...0x39).contains(text[5]), (0x30...0x39).contains(text[7])
    else { return nil }
    return HTTPVersion(major: Int(text[5] - 0x30), minor: Int(text[7] - 0x30))
  }

  /// A log-safe rendering of a peer's bytes: at most 80 characters, control bytes escaped.
  static func printable(_ bytes: some Collection<UInt8>) -> String {
    String(
      bytes.prefix(80).map { (0x20..<0x7F).contains($0) ? Character(UnicodeScalar($0)) : "?" })
  }
}
