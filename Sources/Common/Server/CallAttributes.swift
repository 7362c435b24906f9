/// Values that upgrade checks hand to a WebSocket handler (the authenticated user, a tenant), kept by type:
/// `call.attribute(User.self)`.
public struct CallAttributes: Sendable {
  private var values: [ObjectIdentifier: any Sendable] = [:]

  /// An empty set.
  public init() {}

  /// The value of type `type`, if a check set one.
  public func get<Value: Sendable>(_ type: Value.Type) -> Value? {
    values[ObjectIdentifier(type)] as? Value
  }

  /// Sets the value of its type, replacing an earlier one.
  public mutating func set<Value: Sendable>(_ value: Value) {
    values[ObjectIdentifier(Value.self)] = value
  }

  /// Adds every value of `other`, replacing values of the same types.
  mutating func merge(_ other: CallAttributes) {
    values.merge(other.values) { _, new in new }
  }

  /// Whether no value is set.
  public var isEmpty: Bool { values.isEmpty }
}
