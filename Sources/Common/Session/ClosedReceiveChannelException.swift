/// Thrown by `incoming.receive()` once the session has closed normally and every frame before the close was taken
/// (Ktor's `ClosedReceiveChannelException`), so that a handler tells the end of a conversation (`onClose`) from a
/// failure (`onError`, which throws the failure's own error: a protocol violation, a ping timeout, a reset). A
/// `for try await frame in incoming` loop ends normally instead.
///
/// ```swift
/// do {
///   while true { try await handle(session.incoming.receive()) }
/// } catch is ClosedReceiveChannelException {
///   print("onClose \(await session.closeReason)")
/// } catch {
///   print("onError \(error)")
/// }
/// ```
public struct ClosedReceiveChannelException: Error, Sendable, Hashable, CustomStringConvertible {
  /// How the session closed: the close frame received or sent, or 1006 when the peer left without one.
  public let closeReason: CloseReason

  /// Creates the error for a session that closed with `closeReason`.
  public init(closeReason: CloseReason) {
    self.closeReason = closeReason
  }

  /// "the WebSocket session is closed: " and the reason.
  public var description: String { "the WebSocket session is closed: \(closeReason)" }
}
