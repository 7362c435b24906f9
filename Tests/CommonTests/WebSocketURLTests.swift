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
