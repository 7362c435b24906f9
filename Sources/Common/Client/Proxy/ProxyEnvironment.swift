/// The proxy that the environment names for a URL, as curl, Python's `urllib` and most tools read it.
package enum ProxyEnvironment {
  /// The proxy for `url` from `environment`, or `nil` to connect directly.
  ///
  /// - `wss` URLs use `https_proxy` (or `HTTPS_PROXY`), `ws` URLs `http_proxy` (or `HTTP_PROXY`); either falls back
  ///   to `all_proxy` (`ALL_PROXY`). Lower-case names win over upper-case ones. An empty value means none.
  /// - `no_proxy` (`NO_PROXY`) is a comma-separated list of hosts reached directly: `*` (every host), a name
  ///   that matches itself and its subdomains (`example.com` and `.example.com` both match `a.example.com`), a
  ///   name or address with a port (`example.com:8080`, only that port), an IP address, or an IPv4 or IPv6 range
  ///   in CIDR form (`10.0.0.0/8`, `fd00::/8`).
  package static func proxy(for url: WebSocketURL, environment: [String: String]) -> Proxy? {
    guard url.unixSocketPath == nil else { return nil }
    let names = url.isSecure ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"]
    guard
      let value = (names + ["all_proxy", "ALL_PROXY"]).lazy.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }
      ),
      let proxy = Proxy(url: value)
    else { return nil }
    let exclusions = environment["no_proxy"] ?? environment["NO_PROXY"] ?? ""
    return bypasses(host: url.host, port: url.port, noProxy: exclusions) ? nil : proxy
  }

  /// Whether `no_proxy` lists `host` (a name or IP literal without brackets) on `port`.
  package static func bypasses(host: String, port: Int, noProxy: String) -> Bool {
    let host = host.lowercased()
    for rawEntry in noProxy.split(separator: ",") {
      var entry = HTTPSyntax.trimmingWhitespace(rawEntry).lowercased()
      if entry.isEmpty { continue }
      if entry == "*" { return true }
      if entry.contains("/") {
        if IPRange(entry)?.contains(host) == true { return true }
        continue
      }
      // A port, unless the entry is a bare IPv6 address (several colons, no brackets).
      var entryPort: Int?
      if entry.hasPrefix("[") {
        guard let close = entry.firstIndex(of: "]") else { continue }
        let after = entry[entry.index(after: close)...]
        if after.hasPrefix(":") { entryPort = Int(after.dropFirst()) }
        entry = String(entry[entry.index(after: entry.startIndex)..<close])
      } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
        entryPort = Int(entry[entry.index(after: colon)...])
        entry = String(entry[..<colon])
      }
      if let entryPort, entryPort != port { continue }
      if entry.hasPrefix("*.") { entry.removeFirst() }
      if entry.hasPrefix(".") { entry.removeFirst() }
      if host == entry || host.hasSuffix("." + entry) { return true }
    }
    return false
  }
}

/// An IPv4 or IPv6 address range in CIDR form.
struct IPRange {
  let address: [UInt8]
  let prefixLength: Int

  init?(_ text: String) {
    let parts = text.split(separator: "/", maxSplits: 1)
    guard parts.count == 2, let length = Int(parts[1]), let address = IPAddressParsing.bytes(String(parts[0])),
      (0...(address.count * 8)).contains(length)
    else { return nil }
    self.address = address
    self.prefixLength = length
  }

  /// Whether `host` is an IP literal inside the range.
  func contains(_ host: String) -> Bool {
    guard let other = IPAddressParsing.bytes(host), other.count == address.count else { return false }
    var remaining = prefixLength
    for index in address.indices where remaining > 0 {
      let bits = min(8, remaining)
      let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
      if address[index] & mask != other[index] & mask { return false }
      remaining -= bits
    }
    return true
  }
}

/// IP literals to bytes, without the platform's `inet_pton` (WispCommon has no platform imports).
enum IPAddressParsing {
  /// 4 bytes for an IPv4 literal, 16 for an IPv6 one (brackets allowed), else `nil`.
  static func bytes(_ text: String) -> [UInt8]? {
    var text = Substring(text)
    if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
    if text.contains(":") { return ipv6(text) }
    return ipv4(text)
  }

  static func ipv4(_ text: Substring) -> [UInt8]? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
      guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
      bytes.append(value)
    }
    return bytes
  }

  static func ipv6(_ text: Substring) -> [UInt8]? {
    let halves = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false)
    guard halves.count <= 2 else { return nil }
    func groups(_ part: Substring) -> [UInt16]? {
      if part.isEmpty { return [] }
      var result: [UInt16] = []
      for group in part.split(separator: ":", omittingEmptySubsequences: false) {
        guard (1...4).contains(group.count), let value = UInt16(group, radix: 16) else { return nil }
        result.append(value)
      }
      return result
    }
    guard let head = groups(halves[0]) else { return nil }
    var all = head
    if halves.count == 2 {
      guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
      all += [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
    }
    guard all.count == 8 else { return nil }
    return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
  }
}
