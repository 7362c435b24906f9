import Testing

@testable import WispCommon

@Suite("Proxy URLs, the environment's proxy variables and the proxy messages")
struct ProxyUnitTests {
  @Test("proxy URLs: schemes, default ports, percent-decoded credentials, IPv6, no scheme means http")
  func proxyURLs() throws {
    let full = try #require(Proxy(url: "http://us%40er:p%3Ass@proxy.example:3128/"))
    #expect(full == Proxy(kind: .http, host: "proxy.example", port: 3128, username: "us@er", password: "p:ss"))
    #expect(full.description == "http://us@er@proxy.example:3128")
    #expect(Proxy(url: "socks5h://[::1]")?.host == "::1")
    #expect(Proxy(url: "socks5h://[::1]")?.port == 1080)
    #expect(Proxy(url: "socks://h")?.kind == .socks5)
    #expect(Proxy(url: "https://h")?.port == 443)
    #expect(Proxy(url: "proxy:8080") == Proxy(kind: .http, host: "proxy", port: 8080))
    #expect(Proxy(url: "ftp://h") == nil)
    #expect(Proxy(url: "http://h/path") == nil)
    #expect(Proxy(url: "http://h:99999") == nil)
  }

  @Test("which variable: https_proxy for wss, http_proxy for ws, all_proxy otherwise; lower case wins; empty is none")
  func variables() throws {
    let environment = [
      "https_proxy": "socks5h://s:1", "HTTPS_PROXY": "http://ignored:1", "HTTP_PROXY": "http://h:2",
      "all_proxy": "http://a:3",
    ]
    let wss = try #require(WebSocketURL("wss://example.com/"))
    let ws = try #require(WebSocketURL("ws://example.com/"))
    #expect(ProxyEnvironment.proxy(for: wss, environment: environment)?.host == "s")
    #expect(ProxyEnvironment.proxy(for: ws, environment: environment)?.host == "h")
    #expect(ProxyEnvironment.proxy(for: ws, environment: ["all_proxy": "http://a:3"])?.host == "a")
    #expect(ProxyEnvironment.proxy(for: ws, environment: ["http_proxy": "", "ALL_PROXY": "http://a:3"])?.host == "a")
    #expect(ProxyEnvironment.proxy(for: ws, environment: [:]) == nil)
    let unix = try #require(WebSocketURL("ws+unix:///tmp/s:/"))
    #expect(ProxyEnvironment.proxy(for: unix, environment: environment) == nil)
  }

  @Test(
    "no_proxy: *, names and their subdomains, ports, IP addresses, IPv4 and IPv6 ranges",
    arguments: [
      ("example.com", 80, "example.com", true), ("a.example.com", 80, "example.com", true),
      ("a.example.com", 80, ".example.com", true), ("badexample.com", 80, "example.com", false),
      ("example.com", 8080, "example.com:8080", true), ("example.com", 80, "example.com:8080", false),
      ("10.1.2.3", 80, "10.0.0.0/8", true), ("11.1.2.3", 80, "10.0.0.0/8", false),
      ("192.168.1.7", 80, "192.168.1.0/24", true), ("::1", 80, "::1", true), ("fd00::5", 443, "fd00::/8", true),
      ("fe80::1", 443, "fd00::/8", false), ("[::1]", 80, "[::1]:80", false), ("anything", 1, "*", true),
      ("example.com", 80, " other.org , example.com ", true), ("example.com", 80, "", false),
      ("a.example.com", 80, "*.example.com", true),
    ] as [(String, Int, String, Bool)])
  func noProxy(host: String, port: Int, list: String, bypass: Bool) {
    #expect(ProxyEnvironment.bypasses(host: host, port: port, noProxy: list) == bypass)
  }

  @Test("CONNECT request with Basic credentials; SOCKS5 messages and reply lengths")
  func messages() throws {
    let proxy = Proxy(kind: .http, host: "p", port: 1, username: "Aladdin", password: "open sesame")
    let request = String(decoding: ProxyHandshake.connectRequest(host: "::1", port: 443, proxy: proxy), as: UTF8.self)
    #expect(
      request
        == "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
    )
    #expect(
      try ProxyHandshake.socksConnectRequest(host: "example.com", port: 443) == [5, 1, 0, 3, 11]
        + Array("example.com".utf8) + [1, 187])
    #expect(try ProxyHandshake.socksConnectRequest(host: "10.0.0.1", port: 80) == [5, 1, 0, 1, 10, 0, 0, 1, 0, 80])
    #expect(ProxyHandshake.socksReplyLength([5, 0, 0, 1, 0]) == 10)
    #expect(ProxyHandshake.socksReplyLength([5, 0, 0, 4, 0]) == 22)
    #expect(ProxyHandshake.socksReplyLength([5, 0, 0, 3, 7]) == 14)
    #expect(ProxyHandshake.socksReplyLength([4, 0, 0, 1, 0]) == nil)
    #expect(throws: ProxyError.socksConnectFailed(proxy: "socks5://p:1", code: 5, meaning: "connection refused")) {
      try ProxyHandshake.checkSocksReply(
        [5, 5, 0, 1, 0, 0, 0, 0, 0, 0], proxy: Proxy(kind: .socks5, host: "p", port: 1))
    }
  }
}
