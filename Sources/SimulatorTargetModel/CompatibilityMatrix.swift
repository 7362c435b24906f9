import WispCommon

/// The engine x target x capability matrix of the reference system (Ktor 3.x) and this project's Linux engine,
/// with a reason in every cell. Pure data and pure functions: the rules, the profiles, the bundle chooser and the
/// generated documentation all read it.
public enum CompatibilityMatrix {
  /// The targets `engine` runs on.
  public static func targets(of engine: Engine) -> Set<Target> {
    let apple = Set(Target.allCases.filter(\.isApple))
    switch engine {
    case .cio:
      return Set<Target>([.jvm, .jsNode, .wasmJs, .linuxX64, .linuxArm64, .mingwX64, .androidNative]).union(apple)
    case .okHttp, .android: return [.jvm, .android]
    case .java, .apache, .apache5, .jetty: return [.jvm]
    case .darwin, .darwinLegacy: return apple
    case .curl: return [.linuxX64, .linuxArm64, .macosX64, .macosArm64, .mingwX64]
    case .winHttp: return [.mingwX64]
    case .js: return [.jsBrowser, .jsNode, .wasmJs]
    case .wispLinux: return [.linuxX64, .linuxArm64]
    }
  }

  /// Whether `engine` runs on `target`, and why.
  public static func availability(of engine: Engine, on target: Target) -> Cell {
    guard targets(of: engine).contains(target) else {
      return .no("the \(engine) engine does not run on \(target)")
    }
    if engine == .cio && target == .wasmJs {
      return .yes("CIO runs on wasmJs under Node only, not in a browser")
    }
    if engine == .cio && target == .jsNode {
      return .yes("CIO runs on JavaScript under Node only, not in a browser")
    }
    return .yes("the \(engine) engine is published for \(target)")
  }

  /// The cell for `capability` with `engine` on `target`.
  public static func cell(_ engine: Engine, _ target: Target, _ capability: Capability) -> Cell {
    let available = availability(of: engine, on: target)
    guard available.isSupported else { return available }
    return capabilityCell(engine, target, capability)
  }

  // An exhaustive switch per engine: every (engine, capability) pair has its own reason.
  private static func capabilityCell(_ engine: Engine, _ target: Target, _ capability: Capability) -> Cell {
    switch engine {
    case .cio: return cio(target, capability)
    case .okHttp: return okHttp(capability)
    case .java: return java(capability)
    case .darwin: return darwin(capability)
    case .curl: return curl(capability)
    case .winHttp: return winHttp(capability)
    case .js: return js(target, capability)
    case .android, .apache, .apache5, .jetty, .darwinLegacy:
      return .no("the \(engine) engine has no WebSocket support in Ktor")
    case .wispLinux: return wispLinux(capability)
    }
  }

  private static func cio(_ target: Target, _ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("CIO implements WebSockets itself on every platform it runs on")
    case .extensions: .yes("CIO negotiates extensions (WebSocketExtensionsCapability)")
    case .rawSessions:
      target == .jvm
        ? .yes("the raw builders live in CIO's JVM source set")
        : .no("raw WebSocket sessions are available only with the CIO engine on the JVM; not on \(target)")
    case .tls:
      target == .jvm
        ? .yes("CIO has TLS on the JVM")
        : .no("CIO has no TLS on \(target) (\"TLS sessions are not supported on Native platform\"): ws:// only")
    case .pingInterval: .yes("CIO runs Ktor's pinger")
    case .maxFrameSize: .yes("CIO's frame parser enforces maxFrameSize")
    case .customHeaders: .yes("CIO writes the request itself, with every header")
    case .boundedSuspendingIncoming: .yes("CIO feeds Ktor's channels, bounded or not")
    case .fragmentDelivery: .yes("CIO's sessions deliver frames as they arrive, fragments included")
    }
  }

  private static func okHttp(_ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("OkHttp has WebSockets")
    case .extensions: .no("OkHttp manages its own session; Ktor's extensions are not negotiated")
    case .rawSessions: .no("raw WebSocket sessions are available only with the CIO engine on the JVM")
    case .tls: .yes("OkHttp has TLS")
    case .pingInterval: .no("OkHttp pings only through its own pingInterval setting, not the plugin's")
    case .maxFrameSize: .no("setting maxFrameSize with OkHttp throws")
    case .customHeaders: .yes("OkHttp sends the request's headers")
    case .boundedSuspendingIncoming: .yes("Ktor's channel sits in front of OkHttp's listener")
    case .fragmentDelivery: .no("OkHttp delivers whole messages only")
    }
  }

  private static func java(_ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("java.net.http has WebSockets")
    case .extensions: .no("the Java engine negotiates no extensions")
    case .rawSessions: .no("raw WebSocket sessions are available only with the CIO engine on the JVM")
    case .tls: .yes("java.net.http has TLS")
    case .pingInterval: .yes("Ktor's pinger runs over the Java engine")
    case .maxFrameSize: .no("the Java engine ignores maxFrameSize (and masking)")
    case .customHeaders: .yes("java.net.http sends the request's headers")
    case .boundedSuspendingIncoming: .yes("Ktor's channel sits in front of the Java listener")
    case .fragmentDelivery: .yes("the Java engine delivers fragments, pongs and close frames")
    }
  }

  private static func darwin(_ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("NSURLSessionWebSocketTask")
    case .extensions: .no("NSURLSession negotiates no extensions for Ktor")
    case .rawSessions: .no("raw WebSocket sessions are available only with the CIO engine on the JVM")
    case .tls: .yes("NSURLSession has TLS")
    case .pingInterval: .yes("pings go through sendPing with a pong handler")
    case .maxFrameSize: .yes("maxFrameSize maps to maximumMessageSize (1 MiB by default)")
    case .customHeaders: .yes("NSURLRequest carries the headers")
    case .boundedSuspendingIncoming: .yes("Ktor's channel sits in front of the task")
    case .fragmentDelivery: .no("NSURLSession delivers whole messages only")
    }
  }

  private static func curl(_ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("libcurl's WebSocket API")
    case .extensions: .no("the Curl engine negotiates no extensions")
    case .rawSessions: .no("raw WebSocket sessions are available only with the CIO engine on the JVM")
    case .tls: .yes("libcurl has TLS")
    case .pingInterval: .yes("Ktor's pinger runs over the Curl engine")
    case .maxFrameSize: .yes("the Curl engine checks maxFrameSize")
    case .customHeaders: .yes("libcurl sends the request's headers")
    case .boundedSuspendingIncoming: .no("the Curl engine rejects a bounded suspending incoming channel")
    case .fragmentDelivery: .no("the Curl engine delivers whole messages only")
    }
  }

  private static func winHttp(_ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("WinHTTP's WebSocket API")
    case .extensions: .no("WinHTTP negotiates no extensions")
    case .rawSessions: .no("raw WebSocket sessions are available only with the CIO engine on the JVM")
    case .tls: .yes("WinHTTP has TLS")
    case .pingInterval: .no("WinHTTP sends pings as binary messages, so the pinger cannot work")
    case .maxFrameSize: .yes("the WinHttp engine checks maxFrameSize")
    case .customHeaders: .yes("WinHTTP sends the request's headers")
    case .boundedSuspendingIncoming: .yes("Ktor's channel sits in front of WinHTTP")
    case .fragmentDelivery: .no("WinHTTP delivers whole messages only")
    }
  }

  private static func js(_ target: Target, _ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("the platform's WebSocket object")
    case .extensions: .no("the JavaScript WebSocket API exposes no extension negotiation to Ktor")
    case .rawSessions: .no("raw WebSocket sessions are available only with the CIO engine on the JVM")
    case .tls: .yes("wss:// through the platform")
    case .pingInterval: .no("the JavaScript WebSocket API has no ping; the pingInterval setter throws")
    case .maxFrameSize: .no("the maxFrameSize setter throws on the Js engine")
    case .customHeaders:
      target == .jsBrowser
        ? .no("a browser sends no custom headers except Sec-WebSocket-Protocol")
        : .yes("Node's WebSocket client sends the request's headers")
    case .boundedSuspendingIncoming: .yes("Ktor's channel sits in front of the WebSocket object")
    case .fragmentDelivery: .no("the JavaScript WebSocket API delivers whole messages only")
    }
  }

  private static func wispLinux(_ capability: Capability) -> Cell {
    switch capability {
    case .webSocket: .yes("this project's engine: RFC 6455 on epoll sockets")
    case .extensions: .yes("this project's engine negotiates permessage-deflate (zlib)")
    case .rawSessions: .yes("this project's engine is CIO-style: raw builders included")
    case .tls: .yes("this project's engine has TLS on the system OpenSSL")
    case .pingInterval: .yes("the session's pinger closes with 1011 when the pong does not come")
    case .maxFrameSize: .yes("checked on the frame header before the payload")
    case .customHeaders: .yes("the request builder's headers are sent")
    case .boundedSuspendingIncoming: .yes("incomingCapacity with the suspend policy (the default)")
    case .fragmentDelivery: .yes("raw sessions deliver every frame as it arrives")
    }
  }

  /// The runtime capabilities an engine declares on a target, as the client checks them
  /// (`WispCommon/EngineCapability`). The Linux engine reads its own from here.
  public static func engineCapabilities(_ engine: Engine, on target: Target) -> Set<EngineCapability> {
    var capabilities: Set<EngineCapability> = []
    let mapping: [(Capability, EngineCapability)] = [
      (.webSocket, .webSocket), (.extensions, .webSocketExtensions), (.rawSessions, .rawWebSocket), (.tls, .tls),
    ]
    for (capability, runtime) in mapping where cell(engine, target, capability).isSupported {
      capabilities.insert(runtime)
    }
    return capabilities
  }
}
