/// The server's decision on a WebSocket upgrade request, without I/O: everything `ApplicationServer` decides before
/// the route's own upgrade checks run (RFC 6455 section 4.2.1 validation, the route for the offered subprotocols,
/// shutdown, the plugin, the per-address limit, the Origin policy), and after them what the 101 carries (subprotocol,
/// extensions negotiated from the offers, the checks' headers). The server carries the decisions out: it writes the
/// refusal or the 101, runs the checks, logs and counts. Tested on values alone (`UpgradeAdmissionTests`).
package enum UpgradeAdmission {
  /// A refusal: the status, the reason (the body and the log line) and headers the answer must carry.
  package struct Refusal: Error, Sendable, Hashable {
    package var status: Int
    package var reason: String
    package var headers: HTTPHeaders = HTTPHeaders()
  }

  /// A request the server may upgrade once the route's checks accept it.
  package struct Admitted: Sendable {
    /// The validated request: key, offered subprotocols and extensions.
    package var upgrade: ServerHandshake.Upgrade
    /// The route chosen: the first WebSocket route for the path whose protocol the client offered (or that has
    /// none).
    package var route: Routing.Route
    /// The call the route's checks and handler see (request, path parameters, peer, client certificate).
    package var call: ServerCall
    /// The address whose per-address slot this request took, to give back if it is refused later or when the
    /// session ends; `nil` without a per-address limit.
    package var limitedAddress: String?
  }

  /// What the server knows when it decides, besides the request.
  package struct Context {
    /// The WebSocket routes that match the request's path, in routing order.
    package var matches: [(route: Routing.Route, parameters: [String: String])]
    /// The peer's address (`"127.0.0.1:5000"`), for the per-address limit and the call.
    package var peer: String
    /// The transport the request came on: the call formats its peer from it when asked (``peer`` otherwise).
    package var transport: (any Transport)?
    /// The certificate the TLS client presented, for the call.
    package var peerCertificate: PeerCertificate?
    /// Whether the server is stopping (no new sessions).
    package var stopping: Bool
    /// The WebSockets plugin's settings, `nil` when it is not installed.
    package var config: WebSockets.ServerConfig?
    /// The per-address limit's tracker, when one is configured.
    package var perAddress: PerAddressTracker?
    /// The instant the per-address rate is measured at (the transport's clock).
    package var now: ContinuousClock.Instant
    /// How the request arrived: an HTTP/1.1 upgrade, or an HTTP/2 stream (RFC 8441).
    package var form: ServerHandshake.RequestForm

    /// Creates a context.
    package init(
      matches: [(route: Routing.Route, parameters: [String: String])], peer: String,
      peerCertificate: PeerCertificate?, stopping: Bool, config: WebSockets.ServerConfig?,
      perAddress: PerAddressTracker?, now: ContinuousClock.Instant, form: ServerHandshake.RequestForm = .http1,
      transport: (any Transport)? = nil
    ) {
      self.transport = transport
      self.form = form
      self.matches = matches
      self.peer = peer
      self.peerCertificate = peerCertificate
      self.stopping = stopping
      self.config = config
      self.perAddress = perAddress
      self.now = now
    }
  }

  /// The decision before the route's checks: ``Admitted`` or the ``Refusal`` to answer with. Takes a per-address
  /// slot when it admits (the caller gives it back with `PerAddressTracker.release(_:)` on a later refusal).
  package static func decide(_ request: HTTPRequestHead, context: Context) -> Result<Admitted, Refusal> {
    let upgrade: ServerHandshake.Upgrade
    do throws(ServerHandshake.Rejection) {
      upgrade = try ServerHandshake.validate(request, form: context.form)
    } catch {
      return .failure(Refusal(status: error.status, reason: error.reason, headers: error.headers))
    }
    // Ktor's `webSocket(path, protocol)`: a route with a protocol matches only clients that offer it (Ktor's
    // protocol selector); when no route of the path matches, the path has no route for this request: 404, as Ktor.
    guard
      let (route, parameters) = context.matches.first(where: { match in
        match.route.subprotocol.map { upgrade.subprotocols.contains($0) } ?? true
      })
    else {
      let supported = context.matches.compactMap(\.route.subprotocol).joined(separator: ", ")
      return .failure(
        Refusal(
          status: 404,
          reason:
            "no route: none of the offered subprotocols (\(upgrade.subprotocols.joined(separator: ", "))) is served "
            + "here; this path speaks: \(supported)"))
    }
    guard !context.stopping else { return .failure(Refusal(status: 503, reason: "the server is shutting down")) }
    guard let config = context.config else {
      return .failure(
        Refusal(status: 500, reason: "the WebSockets plugin is not installed (application.install(WebSockets.self))"))
    }
    let call =
      if let transport = context.transport {
        ServerCall(
          request: request, parameters: parameters, transport: transport, peerCertificate: context.peerCertificate)
      } else {
        ServerCall(
          request: request, parameters: parameters, remoteAddress: context.peer,
          peerCertificate: context.peerCertificate)
      }
    var limitedAddress: String?
    if let perAddress = context.perAddress, let address = PerAddressTracker.address(ofPeer: context.peer) {
      if let reason = perAddress.admit(address, now: context.now) {
        var headers = HTTPHeaders()
        headers.add(name: "Retry-After", value: "1")
        return .failure(Refusal(status: 429, reason: reason, headers: headers))
      }
      limitedAddress = address
    }
    if let origin = request.headers["Origin"],
      !config.originPolicy.allows(origin: origin, host: request.headers["Host"], call: call)
    {
      if let limitedAddress { context.perAddress?.release(limitedAddress) }
      return .failure(Refusal(status: 403, reason: "origin \(origin) is not allowed"))
    }
    return .success(Admitted(upgrade: upgrade, route: route, call: call, limitedAddress: limitedAddress))
  }

  /// What the 101 (or, over HTTP/2, the 200) carries once the checks accepted: the response, the extensions to run, and whether the session
  /// is raw. A raw route negotiates extensions only when it asked to.
  package static func accept(
    _ admitted: Admitted, extensionFactories: [any WebSocketExtensionFactory], headers: HTTPHeaders
  ) -> (response: HTTPResponseHead, extensions: [any WebSocketExtension], isRaw: Bool) {
    let isRaw: Bool
    var negotiate = true
    if case .rawWebSocket(let negotiateExtensions, _) = admitted.route.handler {
      isRaw = true
      negotiate = negotiateExtensions
    } else {
      isRaw = false
    }
    var accepted: [ExtensionOffer] = []
    var extensions: [any WebSocketExtension] = []
    if negotiate {
      for factory in extensionFactories {
        let offers = admitted.upgrade.extensionOffers.filter { $0.name.lowercased() == factory.name }
        guard !offers.isEmpty, let (response, instance) = factory.serverAccept(offers) else { continue }
        accepted.append(response)
        extensions.append(instance)
      }
    }
    let response = ServerHandshake.response(
      accepting: admitted.upgrade, subprotocol: admitted.route.subprotocol, extensions: accepted, headers: headers)
    return (response, extensions, isRaw)
  }
}
