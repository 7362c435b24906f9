import Testing
import WispCommon

/// The server's decision before the route's checks and what the 101 carries, on values alone (no transport).
@Suite("Upgrade admission (sans-I/O): routes, refusals, limits, Origin, negotiation")
struct UpgradeAdmissionTests {
  /// A valid upgrade request for `path` (RFC 6455 section 1.3's key), with extra headers.
  static func request(_ path: String, _ extra: [(String, String)] = []) -> HTTPRequestHead {
    var headers = HTTPHeaders()
    for (name, value) in [
      ("Host", "example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
      ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
    ] + extra {
      headers.add(name: name, value: value)
    }
    return HTTPRequestHead(method: "GET", target: path, headers: headers)
  }

  /// An application with a chat route that speaks "chat", a plain echo route on the same path, and the plugin
  /// configured by `configure` (not installed when `install` is false).
  static func context(
    _ path: String, install: Bool = true, stopping: Bool = false, perAddress: PerAddressTracker? = nil,
    peer: String = "10.0.0.1:5000", _ configure: (inout WebSockets.ServerConfig) -> Void = { _ in }
  ) -> UpgradeAdmission.Context {
    var application = Application()
    if install { application.install(WebSockets.self, configure) }
    application.routing { routing in
      routing.webSocket("/chat", protocol: "chat") { _ in }
      routing.webSocket("/chat") { _ in }
      routing.webSocket("/only-v2", protocol: "v2") { _ in }
      routing.webSocketRaw("/raw") { _ in }
    }
    let matches = application.routes.matches(path).filter { $0.route.handler.isWebSocket }
    return UpgradeAdmission.Context(
      matches: matches, peer: peer, peerCertificate: nil, stopping: stopping, config: application.webSockets,
      perAddress: perAddress, now: ContinuousClock.now)
  }

  static func refusal(_ result: Result<UpgradeAdmission.Admitted, UpgradeAdmission.Refusal>) -> UpgradeAdmission
    .Refusal?
  {
    if case .failure(let refusal) = result { return refusal }
    return nil
  }

  @Test("the first route whose protocol the client offered is chosen; a route without one takes the rest")
  func routeBySubprotocol() throws {
    let offered = UpgradeAdmission.decide(
      Self.request("/chat", [("Sec-WebSocket-Protocol", "v1, chat")]), context: Self.context("/chat"))
    #expect(try offered.get().route.subprotocol == "chat")
    let none = UpgradeAdmission.decide(Self.request("/chat"), context: Self.context("/chat"))
    #expect(try none.get().route.subprotocol == nil)
  }

  @Test("no route speaks an offered protocol: 404 (no route matches, as Ktor), naming what the path speaks")
  func noProtocolMatches() {
    let refusal = Self.refusal(
      UpgradeAdmission.decide(
        Self.request("/only-v2", [("Sec-WebSocket-Protocol", "v1")]), context: Self.context("/only-v2")))
    #expect(refusal?.status == 404)
    #expect(refusal?.reason.contains("v2") == true)
  }

  @Test("RFC 6455 section 4.2.1: a request that is not a valid upgrade is refused with its status and headers")
  func invalidUpgrade() {
    var request = Self.request("/chat")
    request.headers.remove(name: "Sec-WebSocket-Version")
    request.headers.add(name: "Sec-WebSocket-Version", value: "8")
    let refusal = Self.refusal(UpgradeAdmission.decide(request, context: Self.context("/chat")))
    #expect(refusal?.status == 426)
    #expect(refusal?.headers["Sec-WebSocket-Version"] == "13")
  }

  @Test("a stopping server answers 503; without the plugin 500")
  func stoppingAndNoPlugin() {
    #expect(
      Self.refusal(UpgradeAdmission.decide(Self.request("/chat"), context: Self.context("/chat", stopping: true)))?
        .status == 503)
    #expect(
      Self.refusal(UpgradeAdmission.decide(Self.request("/chat"), context: Self.context("/chat", install: false)))?
        .status == 500)
  }

  @Test("the per-address limit answers 429 with Retry-After; an Origin refusal gives the slot back")
  func perAddressAndOrigin() throws {
    let tracker = PerAddressTracker(PerAddressLimit(maxConnections: 1))
    let first = UpgradeAdmission.decide(Self.request("/chat"), context: Self.context("/chat", perAddress: tracker))
    #expect(try first.get().limitedAddress == "10.0.0.1")
    let second = Self.refusal(
      UpgradeAdmission.decide(Self.request("/chat"), context: Self.context("/chat", perAddress: tracker)))
    #expect(second?.status == 429)
    #expect(second?.headers["Retry-After"] == "1")
    // Another address, refused by the Origin policy: its slot is released, so it is admitted next time.
    let strict = Self.context("/chat", perAddress: tracker, peer: "10.0.0.2:6000") {
      $0.originPolicy = .allowList(["https://good.example"])
    }
    let bad = Self.refusal(
      UpgradeAdmission.decide(Self.request("/chat", [("Origin", "https://evil.example")]), context: strict))
    #expect(bad?.status == 403)
    let good = UpgradeAdmission.decide(Self.request("/chat", [("Origin", "https://good.example")]), context: strict)
    #expect(try good.get().limitedAddress == "10.0.0.2")
  }

  @Test("the 101 carries the route's protocol and the checks' headers; a raw route negotiates no extension")
  func acceptance() throws {
    let factory = deflateFactory()
    let offer = ("Sec-WebSocket-Extensions", "permessage-deflate")
    let chat = try UpgradeAdmission.decide(
      Self.request("/chat", [("Sec-WebSocket-Protocol", "chat"), offer]), context: Self.context("/chat")
    ).get()
    var headers = HTTPHeaders()
    headers.add(name: "X-Check", value: "yes")
    let (response, extensions, isRaw) = UpgradeAdmission.accept(
      chat, extensionFactories: [factory], headers: headers)
    #expect(response.status == 101)
    #expect(response.headers["Sec-WebSocket-Protocol"] == "chat")
    #expect(response.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    #expect(response.headers["X-Check"] == "yes")
    #expect(response.headers["Sec-WebSocket-Extensions"]?.hasPrefix("permessage-deflate") == true)
    #expect(extensions.map(\.name) == ["permessage-deflate"] && !isRaw)
    let raw = try UpgradeAdmission.decide(Self.request("/raw", [offer]), context: Self.context("/raw")).get()
    let rawAccepted = UpgradeAdmission.accept(raw, extensionFactories: [factory], headers: HTTPHeaders())
    #expect(rawAccepted.extensions.isEmpty && rawAccepted.isRaw)
    #expect(rawAccepted.response.headers["Sec-WebSocket-Extensions"] == nil)
  }
}
