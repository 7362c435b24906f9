/// Where a message stands in its topic's history: the history's epoch and the message's position in it.
///
/// Positions count the messages of one topic from 1, one more per message, with no holes, so that a subscriber
/// that saw position 41 and then 44 knows that 42 and 43 are missing. The epoch names one unbroken history: it
/// changes when the history is lost (a process that kept it in memory restarted; Redis lost its data), and a
/// position means nothing outside its epoch.
///
/// Text form (``description``, ``init(_:)``): `EPOCH:POSITION`, for example `f3a91c07d2b84e61:42`, the form a
/// `ws serve` client sends back in `?since=`.
public struct TopicOffset: Sendable, Hashable, CustomStringConvertible, LosslessStringConvertible {
  /// The history's identifier: letters, digits, `-` and `_`, at most 64 characters.
  public var epoch: String
  /// The message's position: 1 for the topic's first message of this epoch; 0 means "before the first".
  public var position: UInt64

  /// An offset.
  public init(epoch: String, position: UInt64) {
    self.epoch = epoch
    self.position = position
  }

  /// Parses `EPOCH:POSITION`; `nil` for anything else.
  public init?(_ description: String) {
    guard let colon = description.lastIndex(of: ":") else { return nil }
    let epoch = description[..<colon]
    let digits = description[description.index(after: colon)...]
    // Digits only, without leading zeros: one text per offset.
    guard Self.isValidEpoch(epoch), digits.utf8.allSatisfy({ (48...57).contains($0) }),
      digits == "0" || !digits.hasPrefix("0"), let position = UInt64(digits)
    else { return nil }
    self.init(epoch: String(epoch), position: position)
  }

  /// `EPOCH:POSITION`.
  public var description: String { "\(epoch):\(position)" }

  /// Whether `epoch` may name a history (non-empty; letters, digits, `-`, `_`; at most 64 characters).
  package static func isValidEpoch(_ epoch: Substring) -> Bool {
    !epoch.isEmpty && epoch.utf8.count <= 64
      && epoch.utf8.allSatisfy { byte in
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 45 || byte == 95
      }
  }

  /// A new random epoch (16 hex digits) from `random`.
  package static func randomEpoch(_ random: some SecureRandomSource) -> String {
    var bytes = [UInt8](repeating: 0, count: 8)
    bytes.withUnsafeMutableBytes { random.fill($0) }
    return hex(bytes)
  }

  /// Lower-case hex digits of `bytes`.
  package static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 15)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}
