/// Turns values into frames and back, for `sendSerialized` / `receiveDeserialized` (Ktor's
/// `WebsocketContentConverter`). The platform supplies a JSON converter for `Codable` values.
public protocol WebSocketContentConverter: Sendable {
  /// The frame that carries `value`.
  func serialize<Value: Encodable>(_ value: Value) throws -> Frame
  /// The value carried by `frame`.
  func deserialize<Value: Decodable>(_ frame: Frame, as type: Value.Type) throws -> Value
  /// Whether the converter can read `frame` at all (a JSON converter reads text frames).
  func isApplicable(_ frame: Frame) -> Bool
}

/// Serialization failed (Ktor's `WebsocketConverterNotFoundException` and `WebsocketDeserializeException`).
public enum WebSocketConverterError: Error, Sendable, CustomStringConvertible {
  /// No converter is configured (`contentConverter` of the WebSockets plugin).
  case converterNotFound
  /// The converter could not read the frame; carries the frame and the reason.
  case deserializeFailed(frame: Frame, reason: String)
  /// The session closed before a frame arrived.
  case closed

  /// A sentence that says what failed.
  public var description: String {
    switch self {
    case .converterNotFound: "no WebSocket content converter is configured (set contentConverter in the plugin)"
    case .deserializeFailed(let frame, let reason): "cannot deserialize \(frame): \(reason)"
    case .closed: "the session closed before a frame to deserialize arrived"
    }
  }
}

/// A session with the plugin's content converter (Ktor's `sendSerialized` / `receiveDeserialized` receivers): the
/// default sessions of both roles and the server's raw session.
public protocol ConverterWebSocketSession: WebSocketSession {
  /// The plugin's content converter; `nil` when none is configured.
  var converter: (any WebSocketContentConverter)? { get }
}

extension ConverterWebSocketSession {
  /// Serializes `value` with the plugin's converter and sends it.
  ///
  /// - Throws: ``WebSocketConverterError/converterNotFound`` without a converter.
  public func sendSerialized<Value: Encodable>(_ value: Value) async throws {
    guard let converter else { throw WebSocketConverterError.converterNotFound }
    try await send(converter.serialize(value))
  }

  /// Receives the next frame and deserializes it as `type` with the plugin's converter.
  ///
  /// - Throws: ``WebSocketConverterError/deserializeFailed(frame:reason:)`` carrying the frame when it cannot be
  ///   read as `type`.
  public func receiveDeserialized<Value: Decodable>(_ type: Value.Type = Value.self) async throws -> Value {
    guard let converter else { throw WebSocketConverterError.converterNotFound }
    guard let frame = try await connection.receive() else { throw WebSocketConverterError.closed }
    guard converter.isApplicable(frame) else {
      throw WebSocketConverterError.deserializeFailed(
        frame: frame, reason: "the converter cannot read \(frame.frameType) frames")
    }
    do {
      return try converter.deserialize(frame, as: type)
    } catch let error as WebSocketConverterError {
      throw error
    } catch {
      throw WebSocketConverterError.deserializeFailed(frame: frame, reason: "\(error)")
    }
  }
}
