import FoundationEssentials
import WispCommon

/// Serializes `Codable` values as JSON in text frames (Ktor's `KotlinxWebsocketSerializationConverter(Json)`).
public struct JSONWebSocketConverter: WebSocketContentConverter {
  /// Creates the converter.
  public init() {}

  /// A text frame with the JSON of `value`.
  public func serialize<Value: Encodable>(_ value: Value) throws -> Frame {
    Frame.text(bytes: Array(try JSONEncoder().encode(value)))
  }

  /// The value decoded from the frame's JSON.
  public func deserialize<Value: Decodable>(_ frame: Frame, as type: Value.Type) throws -> Value {
    try JSONDecoder().decode(type, from: Data(frame.data))
  }

  /// JSON travels in text frames.
  public func isApplicable(_ frame: Frame) -> Bool { frame.frameType == .text }
}
