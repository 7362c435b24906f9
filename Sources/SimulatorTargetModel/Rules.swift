/// What client code uses, as the rules see it.
public struct Usage: Sendable, Hashable {
  /// The capabilities the code relies on (``Capability/webSocket`` is implied).
  public var capabilities: Set<Capability>

  /// Creates a usage.
  public init(_ capabilities: Set<Capability> = []) {
    self.capabilities = capabilities.union([.webSocket])
  }
}

/// A rule the code breaks on a target with an engine.
public struct Violation: Error, Sendable, Hashable, CustomStringConvertible {
  /// A stable identifier, such as `raw-sessions-unavailable`.
  public let id: String
  /// The capability concerned.
  public let capability: Capability
  /// A sentence a developer understands.
  public let message: String

  /// The message.
  public var description: String { message }
}

/// The compatibility rules as pure functions of the matrix.
public enum Rules {
  /// Every rule that `usage` breaks with `engine` on `target`, in capability order; empty when the code is fine.
  public static func violations(target: Target, engine: Engine, usage: Usage) -> [Violation] {
    let available = CompatibilityMatrix.availability(of: engine, on: target)
    guard available.isSupported else {
      return [Violation(id: "engine-unavailable", capability: .webSocket, message: available.reason)]
    }
    return Capability.allCases.filter(usage.capabilities.contains).compactMap { capability in
      let cell = CompatibilityMatrix.cell(engine, target, capability)
      guard !cell.isSupported else { return nil }
      return Violation(
        id: identifier(capability), capability: capability, message: message(capability, engine, target, cell))
    }
  }

  /// The identifier of the rule about `capability`.
  public static func identifier(_ capability: Capability) -> String {
    switch capability {
    case .webSocket: "websocket-unavailable"
    case .extensions: "extensions-unavailable"
    case .rawSessions: "raw-sessions-unavailable"
    case .tls: "wss-unavailable"
    case .pingInterval: "ping-interval-unavailable"
    case .maxFrameSize: "max-frame-size-unavailable"
    case .customHeaders: "custom-headers-unavailable"
    case .boundedSuspendingIncoming: "bounded-incoming-unavailable"
    case .fragmentDelivery: "fragment-delivery-unavailable"
    }
  }

  private static func message(_ capability: Capability, _ engine: Engine, _ target: Target, _ cell: Cell) -> String {
    switch capability {
    case .rawSessions:
      "raw WebSocket sessions are available only with the CIO engine on the JVM; not with \(engine) on \(target)"
    case .tls: "wss:// is not available with \(engine) on \(target): \(cell.reason)"
    default: "\(capability) is not available with \(engine) on \(target): \(cell.reason)"
    }
  }
}
