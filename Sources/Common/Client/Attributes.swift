/// A typed key of ``Attributes`` (Ktor's `AttributeKey<T>`): two keys are the same when their names and value
/// types are.
public struct AttributeKey<Value: Sendable>: Sendable, Hashable, CustomStringConvertible {
  /// The key's name, for logs.
  public let name: String

  /// A key named `name`.
  public init(_ name: String) { self.name = name }

  /// The name.
  public var description: String { name }

  /// The identity the store uses: the name and the value type.
  var identity: String { "\(name)/\(Value.self)" }
}

/// Values attached to a call under typed keys (Ktor's `Attributes`): `call.attributes.getOrNull(extensionsKey)`.
public struct Attributes: Sendable {
  private var values: [String: any Sendable] = [:]

  /// An empty set.
  public init() {}

  /// The value under `key`, or `nil` (Ktor's `getOrNull`).
  public func getOrNull<Value>(_ key: AttributeKey<Value>) -> Value? {
    values[key.identity] as? Value
  }

  /// The value under `key`, or `nil`; setting `nil` removes it.
  public subscript<Value>(key: AttributeKey<Value>) -> Value? {
    get { getOrNull(key) }
    set { values[key.identity] = newValue }
  }

  /// Stores `value` under `key` (Ktor's `put`).
  public mutating func put<Value>(_ key: AttributeKey<Value>, _ value: Value) {
    values[key.identity] = value
  }

  /// Whether a value is stored under `key` (Ktor's `contains`).
  public func contains<Value>(_ key: AttributeKey<Value>) -> Bool { values[key.identity] != nil }
}

/// The key of the extensions negotiated for a session, in the order of the server's response (Ktor's
/// `extensionsKey`): `session.call.attributes.getOrNull(extensionsKey)`.
public let extensionsKey = AttributeKey<[any WebSocketExtension]>("Websocket extensions")
