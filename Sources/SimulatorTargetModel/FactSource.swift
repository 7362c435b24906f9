/// Where a fact of the matrix comes from: a source file of the reference system's repository (ktorio/ktor), a page
/// of its documentation, or, for this project's own engine, this repository's source.
public struct FactSource: Sendable, Hashable, CustomStringConvertible {
  /// What kind of reference it is.
  public enum Kind: String, Sendable, Hashable {
    /// A file of https://github.com/ktorio/ktor, by its path.
    case source
    /// A page of Ktor's documentation, by its URL.
    case documentation
    /// A file of this repository, by its path.
    case project
  }

  /// What kind of reference it is.
  public let kind: Kind
  /// The path (``Kind/source``, ``Kind/project``) or the URL (``Kind/documentation``).
  public let reference: String

  /// A file of Ktor's repository.
  public static func ktor(_ path: String) -> FactSource { FactSource(kind: .source, reference: path) }
  /// A page of Ktor's documentation.
  public static func page(_ url: String) -> FactSource { FactSource(kind: .documentation, reference: url) }
  /// A file of this repository.
  public static func project(_ path: String) -> FactSource { FactSource(kind: .project, reference: path) }

  /// A link to it: GitHub for Ktor's sources, the page itself, or the path in this repository.
  public var url: String {
    switch kind {
    case .source: "https://github.com/ktorio/ktor/blob/main/" + reference
    case .documentation, .project: reference
    }
  }

  /// The link, for people.
  public var description: String { url }
}

extension CompatibilityMatrix {
  /// Ktor's page of engines and the platforms each supports (the availability facts and the engines without
  /// WebSockets).
  public static let enginesPage = FactSource.page("https://ktor.io/docs/client-engines.html")

  /// Where the fact "`engine` runs on these targets" comes from.
  public static func availabilitySource(of engine: Engine) -> FactSource {
    engine == .wispLinux ? .project("Sources/LinuxPlatform/LinuxEngine.swift") : enginesPage
  }

  /// Where the cell of `capability` with `engine` on `target` comes from.
  public static func source(_ engine: Engine, _ target: Target, _ capability: Capability) -> FactSource {
    guard availability(of: engine, on: target).isSupported else { return availabilitySource(of: engine) }
    switch (engine, capability) {
    case (.cio, .rawSessions):
      return .ktor("ktor-client/ktor-client-cio/jvm/src/io/ktor/client/plugins/websocket/cio/buildersCio.kt")
    case (.cio, .tls) where target != .jvm:
      return .ktor("ktor-network/ktor-network-tls/nonJvm/src/io/ktor/network/tls/TLS.nonJvm.kt")
    case (_, .rawSessions) where engine != .wispLinux:
      return .ktor("ktor-client/ktor-client-cio/jvm/src/io/ktor/client/plugins/websocket/cio/buildersCio.kt")
    default:
      return webSocketSource(of: engine)
    }
  }

  /// The file that implements `engine`'s WebSocket session (or the engines page, for engines without one).
  public static func webSocketSource(of engine: Engine) -> FactSource {
    switch engine {
    case .cio: .ktor("ktor-client/ktor-client-cio/common/src/io/ktor/client/engine/cio/CIOEngine.kt")
    case .okHttp: .ktor("ktor-client/ktor-client-okhttp/jvm/src/io/ktor/client/engine/okhttp/OkHttpWebsocketSession.kt")
    case .java: .ktor("ktor-client/ktor-client-java/jvm/src/io/ktor/client/engine/java/JavaHttpWebSocket.kt")
    case .darwin:
      .ktor("ktor-client/ktor-client-darwin/darwin/src/io/ktor/client/engine/darwin/internal/DarwinWebsocketSession.kt")
    case .curl:
      .ktor("ktor-client/ktor-client-curl/desktop/src/io/ktor/client/engine/curl/internal/CurlWebSocketSession.kt")
    case .winHttp:
      .ktor("ktor-client/ktor-client-winhttp/windows/src/io/ktor/client/engine/winhttp/internal/WinHttpWebSocket.kt")
    case .js: .ktor("ktor-client/ktor-client-core/js/src/io/ktor/client/engine/js/JsClientEngine.kt")
    case .android, .apache, .apache5, .jetty, .darwinLegacy: enginesPage
    case .wispLinux: .project("Sources/LinuxPlatform/LinuxEngine.swift")
    }
  }
}

extension Engine {
  /// What a consumer adds to a build for this engine: the reference system's Maven coordinates (for example
  /// `io.ktor:ktor-client-darwin`), or, for this project's engine, its SwiftPM product.
  public var artifact: String {
    switch self {
    case .cio: "io.ktor:ktor-client-cio"
    case .okHttp: "io.ktor:ktor-client-okhttp"
    case .java: "io.ktor:ktor-client-java"
    case .darwin: "io.ktor:ktor-client-darwin"
    case .curl: "io.ktor:ktor-client-curl"
    case .winHttp: "io.ktor:ktor-client-winhttp"
    case .js: "io.ktor:ktor-client-js"
    case .android: "io.ktor:ktor-client-android"
    case .apache: "io.ktor:ktor-client-apache"
    case .apache5: "io.ktor:ktor-client-apache5"
    case .jetty: "io.ktor:ktor-client-jetty-jakarta"
    case .darwinLegacy: "io.ktor:ktor-client-darwin-legacy"
    case .wispLinux: "the Wisp product of this package (LinuxEngine)"
    }
  }

  /// How this project runs a client as this engine would on a modelled target: the Linux engine itself, or an
  /// ``EngineProfile`` over it.
  public func projectUsage(on target: Target) -> String {
    self == .wispLinux
      ? "HttpClient(LinuxEngine())"
      : "HttpClient(EngineProfile(target: .\(target.swiftCaseName), engine: .\(swiftCaseName), over: LinuxEngine()))"
  }

  /// The enum case's name (`darwin`, `okHttp`).
  public var swiftCaseName: String {
    switch self {
    case .cio: "cio"
    case .okHttp: "okHttp"
    case .java: "java"
    case .darwin: "darwin"
    case .curl: "curl"
    case .winHttp: "winHttp"
    case .js: "js"
    case .android: "android"
    case .apache: "apache"
    case .apache5: "apache5"
    case .jetty: "jetty"
    case .darwinLegacy: "darwinLegacy"
    case .wispLinux: "wispLinux"
    }
  }
}

extension Target {
  /// The enum case's name (`iosX64`, `jsBrowser`).
  public var swiftCaseName: String {
    switch self {
    case .jsBrowser: "jsBrowser"
    case .jsNode: "jsNode"
    default: rawValue
    }
  }
}
