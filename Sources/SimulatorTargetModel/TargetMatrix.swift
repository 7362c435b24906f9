import WispCommon

/// What the matrix expects of one scenario with one engine on one target.
public enum MatrixExpectation: Sendable, Hashable, CustomStringConvertible {
  /// Supported: the scenario must work, with every capability it needs in effect.
  case works
  /// Not supported, and the reference system refuses it: the scenario must fail with this rule's error.
  case refused(Violation)
  /// Not supported, and the reference system goes on without it (Ktor negotiates no extensions on an engine
  /// without `WebSocketExtensionsCapability`): the scenario must work with this capability not in effect.
  case worksWithout(Capability)

  /// "works", "refused: <rule>", "works without <capability>".
  public var description: String {
    switch self {
    case .works: "works"
    case .refused(let violation): "refused (\(violation.id))"
    case .worksWithout(let capability): "works without \(capability)"
    }
  }
}

/// One case of a compatibility-matrix test: a client engine as it runs on a target, and a scenario's needs. Use a
/// list of them as Swift Testing arguments (``TargetMatrix/profiles(of:needing:)``); run the scenario with a client
/// on ``makeEngine(over:)`` and check the outcome with ``verdict(_:)``.
public struct MatrixCase: Sendable, Hashable, CustomStringConvertible {
  /// The modelled target.
  public let target: Target
  /// The engine as it runs there.
  public let engine: Engine
  /// What the scenario needs (``Capability/webSocket`` is always implied).
  public let needs: Set<Capability>

  /// A case.
  public init(target: Target, engine: Engine, needs: Set<Capability>) {
    self.target = target
    self.engine = engine
    self.needs = needs
  }

  /// What the matrix expects: the first rule the needs break, else a capability the reference system drops
  /// silently, else that it works.
  public var expectation: MatrixExpectation {
    let violations = Rules.violations(target: target, engine: engine, usage: Usage(needs))
    if let dropped = violations.first(where: { $0.capability.isDroppedSilently }),
      violations.allSatisfy(\.capability.isDroppedSilently)
    {
      return .worksWithout(dropped.capability)
    }
    if let refused = violations.first(where: { !$0.capability.isDroppedSilently }) { return .refused(refused) }
    return .works
  }

  /// The client engine for the case: the Linux engine itself for ``Engine/wispLinux``, else an ``EngineProfile``
  /// over `base`.
  public func makeEngine(over base: any HttpClientEngine) -> any HttpClientEngine {
    engine == .wispLinux ? base : EngineProfile(target: target, engine: engine, over: base)
  }

  /// `nil` when `outcome` is what the matrix expects, else why not. `outcome` is the set of the scenario's
  /// capabilities that were in effect, or the error it failed with.
  public func verdict(_ outcome: Result<Set<Capability>, any Error>) -> String? {
    switch (expectation, outcome) {
    case (.works, .success(let inEffect)):
      let missing = needs.subtracting(inEffect).subtracting([.webSocket])
      return missing.isEmpty ? nil : "\(self): expected to work with \(missing.sorted()) in effect; they were not"
    case (.works, .failure(let error)):
      return "\(self): expected to work, failed: \(error)"
    case (.refused(let violation), .failure(let error)):
      let cause = (error as? WebSocketException)?.cause as? Violation
      return cause?.id == violation.id ? nil : "\(self): expected the rule \(violation.id), failed with: \(error)"
    case (.refused(let violation), .success):
      return "\(self): expected the rule \(violation.id) to refuse it; it worked"
    case (.worksWithout(let capability), .success(let inEffect)):
      return inEffect.contains(capability) ? "\(self): \(capability) was in effect; the matrix says it is not" : nil
    case (.worksWithout(let capability), .failure(let error)):
      return "\(self): expected to work without \(capability), failed: \(error)"
    }
  }

  /// "Darwin on iosX64 needing [raw sessions]: refused (raw-sessions-unavailable)".
  public var description: String {
    let needed = needs.subtracting([.webSocket]).sorted().map(\.description)
    return "\(engine) on \(target)" + (needed.isEmpty ? "" : " needing \(needed.joined(separator: ", "))")
  }
}

/// The matrix as test arguments and exclusion lists (Ktor's test suites name theirs `ENGINES_WITHOUT_WS` and the
/// like; here they are derived from the data, never written by hand).
public enum TargetMatrix {
  /// A case per engine with WebSockets on `target` (its profiles), for a scenario that needs `needs`.
  public static func profiles(of target: Target, needing needs: Set<Capability> = []) -> [MatrixCase] {
    Engine.allCases
      .filter { !enginesWithoutWebSockets(on: target).contains($0) }
      .filter { CompatibilityMatrix.availability(of: $0, on: target).isSupported }
      .map { MatrixCase(target: target, engine: $0, needs: needs) }
  }

  /// A case per target where `engine` runs with WebSockets, for a scenario that needs `needs`.
  public static func targets(of engine: Engine, needing needs: Set<Capability> = []) -> [MatrixCase] {
    Target.allCases
      .filter { CompatibilityMatrix.cell(engine, $0, .webSocket).isSupported }
      .map { MatrixCase(target: $0, engine: engine, needs: needs) }
  }

  /// The engines without `capability` on `target` (on every target where they run, when `target` is `nil`).
  public static func engines(without capability: Capability, on target: Target? = nil) -> Set<Engine> {
    Set(
      Engine.allCases.filter { engine in
        let targets = target.map { [$0] } ?? Array(CompatibilityMatrix.targets(of: engine))
        let running = targets.filter { CompatibilityMatrix.availability(of: engine, on: $0).isSupported }
        return !running.isEmpty && running.allSatisfy { !CompatibilityMatrix.cell(engine, $0, capability).isSupported }
      })
  }

  /// `ENGINES_WITHOUT_WS`: engines with no WebSockets (on `target`, or anywhere).
  public static func enginesWithoutWebSockets(on target: Target? = nil) -> Set<Engine> {
    engines(without: .webSocket, on: target)
  }

  /// The named exclusion lists, in the style of Ktor's test suites, each derived from the matrix.
  public static func exclusionLists(on target: Target? = nil) -> [(name: String, engines: Set<Engine>)] {
    [
      ("ENGINES_WITHOUT_WS", engines(without: .webSocket, on: target)),
      ("ENGINES_WITHOUT_RAW_WEBSOCKETS", engines(without: .rawSessions, on: target)),
      ("ENGINES_WITHOUT_WS_EXTENSIONS", engines(without: .extensions, on: target)),
      ("ENGINES_WITHOUT_WSS", engines(without: .tls, on: target)),
      ("ENGINES_WITHOUT_PING", engines(without: .pingInterval, on: target)),
      ("ENGINES_WITHOUT_MAX_FRAME_SIZE", engines(without: .maxFrameSize, on: target)),
      ("ENGINES_WITHOUT_CUSTOM_HEADERS", engines(without: .customHeaders, on: target)),
      ("ENGINES_WITHOUT_FRAGMENTS", engines(without: .fragmentDelivery, on: target)),
    ]
  }
}

extension Capability {
  /// Whether the reference system goes on without the capability instead of refusing: only extensions (an engine
  /// without `WebSocketExtensionsCapability` negotiates none).
  public var isDroppedSilently: Bool { self == .extensions }

  /// The capability a command-line word names (`raw`, `wss`, `tls`, `extensions`, `deflate`, `ping`,
  /// `max-frame-size`, `headers`, `bounded-incoming`, `fragments`, `websocket`), or `nil`.
  public init?(word: String) {
    switch word.lowercased() {
    case "websocket", "ws": self = .webSocket
    case "extensions", "deflate", "compression": self = .extensions
    case "raw", "raw-sessions": self = .rawSessions
    case "wss", "tls": self = .tls
    case "ping", "ping-interval": self = .pingInterval
    case "max-frame-size", "maxframesize": self = .maxFrameSize
    case "headers", "custom-headers": self = .customHeaders
    case "bounded-incoming": self = .boundedSuspendingIncoming
    case "fragments", "fragment-delivery": self = .fragmentDelivery
    default: return nil
    }
  }
}

extension Capability: Comparable {
  /// The declaration order.
  public static func < (lhs: Capability, rhs: Capability) -> Bool {
    allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
  }
}
