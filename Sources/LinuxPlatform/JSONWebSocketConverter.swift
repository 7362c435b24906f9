import FoundationEssentials
import WispCommon

/// Serializes `Codable` values as JSON in text frames (Ktor's `KotlinxWebsocketSerializationConverter(Json)`).
public struct JSONWebSocketConverter: WebSocketContentConverter {
  /// The encoder, with the application's strategies (dates, keys, output formatting).
  public let encoder: JSONEncoder
  /// The decoder, with the application's strategies.
  public let decoder: JSONDecoder

  /// Creates the converter with `encoder` and `decoder` (Ktor's `KotlinxWebsocketSerializationConverter(json)`
  /// takes the application's `Json`); defaults: a plain encoder and decoder.
  public init(encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder()) {
    self.encoder = encoder
    self.decoder = decoder
  }

  /// A text frame with the JSON of `value`.
  public func serialize<Value: Encodable>(_ value: Value) throws -> Frame {
    Frame.text(bytes: Array(try encoder.encode(value)))
  }

  /// The value decoded from the frame's JSON.
  public func deserialize<Value: Decodable>(_ frame: Frame, as type: Value.Type) throws -> Value {
    try decoder.decode(type, from: Data(frame.data))
  }

  /// JSON travels in text frames.
  public func isApplicable(_ frame: Frame) -> Bool { frame.frameType == .text }
}
