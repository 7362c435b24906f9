import Testing

@testable import WispCommon

@Suite("Upgrade policy parts: origins, cookies, route paths, per-address counts")
struct UpgradePolicyUnitTests {
  static func call(headers: HTTPHeaders = [:]) -> ServerCall {
    ServerCall(
      request: HTTPRequestHead(method: "GET", target: "/", headers: headers), parameters: [:],
      remoteAddress: "127.0.0.1:5000")
  }

  @Test(
    "allow-list entries: exact origins with default ports, *. subdomains, entries without a scheme, null",
    arguments: [
      ("https://app.example.com", "https://app.example.com", true),
      ("https://app.example.com", "https://app.example.com:443", true),
      ("https://app.example.com", "http://app.example.com", false),
      ("http://localhost:8080", "http://localhost:8080", true),
      ("http://localhost:8080", "http://localhost", false),
      ("https://*.example.com", "https://a.example.com", true),
      ("https://*.example.com", "https://a.b.example.com", true),
      ("https://*.example.com", "https://example.com", false),
      ("https://*.example.com", "https://notexample.com", false),
      ("*.example.com", "http://a.example.com", true),
      ("*.example.com", "https://a.example.com", true),
      ("*.example.com", "chrome-extension://a.example.com", false),
      ("example.com:8443", "https://example.com:8443", true),
      ("example.com:8443", "https://example.com", false),
      ("null", "null", true),
      ("https://app.example.com", "null", false),
      ("https://app.example.com", "https://app.example.com/path", false),
      ("http://[::1]:8080", "http://[::1]:8080", true),
    ])
  func allowList(entry: String, origin: String, allowed: Bool) {
    #expect(OriginPolicy.allowList([entry]).allows(origin: origin, host: nil, call: Self.call()) == allowed)
  }

  @Test(
    "same origin compares host and port with Host; a missing port is the scheme's default",
    arguments: [
      ("http://example.com", "example.com", true), ("https://example.com", "example.com:443", true),
      ("http://example.com:8080", "example.com:8080", true), ("http://example.com:8080", "example.com", false),
      ("http://evil.com", "example.com", false), ("http://EXAMPLE.com", "example.COM", true),
      ("garbage", "example.com", false),
    ])
  func sameOrigin(origin: String, host: String, allowed: Bool) {
    #expect(OriginPolicy.sameOrigin.allows(origin: origin, host: host, call: Self.call()) == allowed)
  }

  @Test("cookies: pairs split on ';', whitespace trimmed, quotes removed, the first of a name wins, several headers")
  func cookies() {
    var headers = HTTPHeaders()
    headers.add(name: "Cookie", value: "a=1; b = \"two\" ;c=;bad")
    headers.add(name: "Cookie", value: "a=ignored; d=x=y")
    let call = Self.call(headers: headers)
    #expect(call.cookies == ["a": "1", "b": "two", "c": "", "d": "x=y"])
    #expect(call.cookie("d") == "x=y")
    #expect(Self.call().cookies.isEmpty)
  }

  @Test("group paths join with one slash; an empty or / path is the group's own path")
  func joinPaths() {
    #expect(Routing.join("/api", "/chat") == "/api/chat")
    #expect(Routing.join("/api/", "chat") == "/api/chat")
    #expect(Routing.join("/api", "") == "/api")
    #expect(Routing.join("/api", "/") == "/api")
    #expect(Routing.join("", "") == "/")
    #expect(Routing.join("/api", "/{id}") == "/api/{id}")
  }

  @Test("attributes are kept by type; a later value of a type replaces the earlier one")
  func attributes() {
    var attributes = CallAttributes()
    attributes.set("tenant-1")
    attributes.set(42)
    var later = CallAttributes()
    later.set("tenant-2")
    attributes.merge(later)
    #expect(attributes.get(String.self) == "tenant-2")
    #expect(attributes.get(Int.self) == 42)
    #expect(attributes.get(Double.self) == nil)
  }

  @Test("peer addresses: IPv4 and bracketed IPv6 without the port; Unix and memory peers have none")
  func peerAddresses() {
    #expect(PerAddressTracker.address(ofPeer: "127.0.0.1:5000") == "127.0.0.1")
    #expect(PerAddressTracker.address(ofPeer: "[::1]:5000") == "[::1]")
    #expect(PerAddressTracker.address(ofPeer: "memory") == nil)
    #expect(PerAddressTracker.address(ofPeer: "unknown peer") == nil)
  }

  @Test("the token bucket refills at the rate; the sweep forgets addresses without sessions idle for a second")
  func tokenBucket() {
    let tracker = PerAddressTracker(PerAddressLimit(maxConnections: 10, maxHandshakesPerSecond: 2))
    let start = ContinuousClock.now
    #expect(tracker.admit("a", now: start) == nil)
    #expect(tracker.admit("a", now: start) == nil)
    #expect(tracker.admit("a", now: start) != nil)
    #expect(tracker.admit("a", now: start + .milliseconds(500)) == nil)  // one token back after half a second
    #expect(tracker.admit("b", now: start) == nil)
    tracker.release("a")
    tracker.release("a")
    tracker.release("a")
    #expect(tracker.trackedCount == 2)
    // Within 256 admissions the sweep runs: it drops "a" (no session, idle for more than a second), keeps "b" (a
    // session open) and the 256 new addresses, whose buckets are not full yet.
    for index in 0..<256 {
      if tracker.admit("x\(index)", now: start + .seconds(5)) == nil { tracker.release("x\(index)") }
    }
    #expect(tracker.trackedCount == 257)
  }
}
