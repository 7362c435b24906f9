/// Tracks which message a data frame belongs to and enforces the fragmentation rules of RFC 6455 section 5.4,
/// in both directions.
///
/// "A fragmented message consists of a single frame with the FIN bit clear and an opcode other than 0, followed
/// by zero or more frames with the FIN bit clear and the opcode set to 0, and terminated by a single frame with
/// the FIN bit set and an opcode of 0." Control frames may be injected between fragments and do not touch it.
package struct FragmentTracker: Sendable, Hashable {
  /// The type of the fragmented message in progress, or `nil` between messages.
  package private(set) var openMessage: FrameType?

  /// Creates a tracker between messages.
  package init() {}

  /// Resolves a received data frame's opcode to its message type and advances the tracker.
  ///
  /// - Throws: ``ProtocolViolation/continuationWithoutStart`` or
  ///   ``ProtocolViolation/newMessageInsideFragmentedMessage(_:)``.
  package mutating func receive(opcode: Opcode, fin: Bool) throws(ProtocolViolation) -> FrameType {
    let type = try peek(opcode: opcode)
    openMessage = fin ? nil : type
    return type
  }

  /// The message type a data frame with `opcode` would belong to, without advancing.
  package func peek(opcode: Opcode) throws(ProtocolViolation) -> FrameType {
    switch opcode {
    case .continuation:
      guard let open = openMessage else { throw .continuationWithoutStart }
      return open
    case .text, .binary:
      guard openMessage == nil else { throw .newMessageInsideFragmentedMessage(opcode) }
      return opcode == .text ? .text : .binary
    case .close, .ping, .pong:
      return FrameType(opcode: opcode) ?? .binary
    }
  }

  /// The wire opcode for an outgoing data frame of `type`, advancing the tracker: the first fragment carries the
  /// message's opcode, later ones opcode 0 (continuation).
  ///
  /// - Returns: `nil` when `type` differs from the message in progress (the caller interleaved two messages).
  package mutating func send(type: FrameType, fin: Bool) -> Opcode? {
    let opcode: Opcode
    if let open = openMessage {
      guard open == type else { return nil }
      opcode = .continuation
    } else {
      opcode = type.opcode
    }
    openMessage = fin ? nil : type
    return opcode
  }
}
