import Testing
import WispCommon

@Suite("RFC 6455 section 3: WebSocket URIs")
struct WebSocketURLTests {
  @Test("schemes, default ports, IPv6 literals, paths and queries")
  func parses() throws {
    let plain = try #require(WebSocketURL("ws://example.com/chat?room=1"))
    #expect(!plain.isSecure && plain.host == "example.com" && plain.port == 80 && plain.target == "/chat?room=1")
    #expect(plain.hostHeader == "example.com")
    let secure = try #require(WebSocketURL("wss://example.com"))
    #expect(secure.isSecure && secure.port == 443 && secure.target == "/")
    let v6 = try #require(WebSocketURL("ws://[::1]:8080/x"))
    #expect(v6.host == "::1" && v6.port == 8080 && v6.hostHeader == "[::1]:8080")
    #expect(WebSocketURL("https://h:8443/")?.isSecure == true)
    #expect(WebSocketURL("ws://h?q=1")?.target == "/?q=1")
  }

  @Test("fragments, other schemes, bad ports and user info are refused")
  func refuses() {
    for bad in [
      "ws://h/#frag", "ftp://h/", "ws://", "ws://h:0/", "ws://h:70000/", "ws://h:x/", "ws://u@h/", "ws://[::1/",
    ] {
      #expect(WebSocketURL(bad) == nil, "\(bad)")
    }
  }
}

@Suite("Relative references against a base URL (RFC 3986 section 5.2), headers and methods as Ktor spells them")
struct RelativeURLTests {
  @Test("absolute paths, relative paths, dot segments, queries and network-path references")
  func resolves() throws {
    let base = try #require(WebSocketURL("ws://h:8080/api/v1/chat?x=1"))
    #expect(base.resolving("/echo")?.description == "ws://h:8080/echo")
    #expect(base.resolving("rooms/1")?.description == "ws://h:8080/api/v1/rooms/1")
    #expect(base.resolving("../v2/chat?y=2")?.description == "ws://h:8080/api/v2/chat?y=2")
    #expect(base.resolving("./")?.description == "ws://h:8080/api/v1/")
    #expect(base.resolving("?z=3")?.description == "ws://h:8080/api/v1/chat?z=3")
    #expect(base.resolving("//other:9/p")?.description == "ws://other:9/p")
    #expect(base.resolving("/a/../../b")?.description == "ws://h:8080/b")
    #expect(base.resolving("/x#frag") == nil)
  }

  @Test("a builder with a base resolves relative URLs; without one they are refused with a clear message")
  func builder() throws {
    var builder = HttpRequestBuilder()
    #expect(throws: WebSocketException.self) { try builder.url("/echo") }
    builder.baseURL = WebSocketURL("wss://example.com/app/")
    try builder.url("echo")
    #expect(builder.url.description == "wss://example.com/app/echo")
    try builder.url("ws://other/")
    #expect(builder.url.description == "ws://other/")
  }

  @Test("headers[name] = value replaces, nil removes; entries() groups by name in first-seen order")
  func headers() {
    var headers = HTTPHeaders()
    headers.add(name: "Cookie", value: "a=1")
    headers["Authorization"] = "Bearer 1"
    headers.add(name: "cookie", value: "b=2")
    headers["authorization"] = "Bearer 2"
    #expect(headers.values(name: "Authorization") == ["Bearer 2"])
    #expect(headers.entries().map(\.name) == ["Cookie", "authorization"])
    #expect(headers.entries().first?.values == ["a=1", "b=2"])
    headers["Cookie"] = nil
    #expect(!headers.contains(name: "cookie") && headers.names() == ["authorization"])
  }

  @Test("HttpMethod: constants, string literals, parse, comparison with a string")
  func methods() {
    let literal: HttpMethod = "GET"
    #expect(literal == .get && HttpMethod.parse("POST") == .post && HttpMethod.get == "GET")
    #expect(HttpMethod.delete.description == "DELETE" && HttpMethod("PATCH") != HttpMethod.get)
  }
}

@Suite("ws+unix: URLs (Node's form)")
struct UnixSocketURLTests {
  @Test(
    "socket path and request target split at the first colon; Host is localhost; round trip through description",
    arguments: [
      ("ws+unix:///run/app.sock:/chat?room=1", "/run/app.sock", "/chat", "room=1", false),
      ("ws+unix:/run/app.sock:/chat", "/run/app.sock", "/chat", nil, false),
      ("wss+unix:///tmp/s", "/tmp/s", "/", nil, true),
      ("WS+UNIX:///tmp/s:", "/tmp/s", "/", nil, false),
    ] as [(String, String, String, String?, Bool)])
  func parses(text: String, socket: String, path: String, query: String?, secure: Bool) throws {
    let url = try #require(WebSocketURL(text))
    #expect(url.unixSocketPath == socket)
    #expect(url.path == path)
    #expect(url.query == query)
    #expect(url.isSecure == secure)
    #expect(url.hostHeader == "localhost")
    #expect(WebSocketURL(url.description) == url)
  }

  @Test(
    "a relative or empty socket path, or a fragment, is not a ws+unix URL",
    arguments: [
      "ws+unix://relative.sock:/x", "ws+unix:", "ws+unix:///", "ws+unix:///tmp/s:/x#frag",
    ])
  func rejects(text: String) {
    #expect(WebSocketURL(text) == nil)
  }
}
