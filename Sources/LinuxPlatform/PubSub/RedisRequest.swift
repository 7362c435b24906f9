import WispCommon

/// A command for Redis and what becomes of its reply (``RedisNode``, ``RedisRouter``).
struct RedisRequest: Sendable {
  /// The command's bytes (RESP).
  var command: [UInt8]
  /// The replies the bytes produce: 2 for `ASKING` and a command (only the last is delivered).
  var replies = 1
  /// The cluster slot of the command's keys; `nil`: any node.
  var slot: Int?
  /// Written again after a lost connection (an idempotent command); otherwise completed with the connection's
  /// error.
  var resend: Bool
  /// How many times a `TRYAGAIN` or `CLUSTERDOWN` answer was retried (at most 100, 50 ms apart).
  var retries = 0
  /// Called once, on the node's loop, with the reply (an error reply is `.failure(.refused)`, after redirections
  /// were followed) or why there will be none.
  var complete: @Sendable (Result<RESPValue, PubSubError>) -> Void
}
