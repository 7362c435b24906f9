import Synchronization
import WispCommon

/// One connection to Redis: a socket, a RESP parser and an outbox written by one writer task. Used from tasks on the
/// socket's event loop only (the transport is loop-confined).
final class RedisLink: Sendable {
  let transport: SocketTransport
  private struct Outbox {
    var bytes: [UInt8] = []
    var waiter: CheckedContinuation<Bool, Never>?
    var closed = false
  }
  private let outbox = Mutex(Outbox())
  /// When bytes last arrived (the loop's monotonic clock, in nanoseconds since the link opened).
  private let lastActivity = Atomic<Int64>(0)
  let opened = ContinuousClock.now

  init(transport: SocketTransport) {
    self.transport = transport
  }

  /// Queues a command for the writer; `false` when the link is closed.
  @discardableResult
  func enqueue(_ bytes: [UInt8]) -> Bool {
    let waiter = outbox.withLock { outbox -> CheckedContinuation<Bool, Never>?? in
      if outbox.closed { return .none }
      outbox.bytes.append(contentsOf: bytes)
      defer { outbox.waiter = nil }
      return .some(outbox.waiter)
    }
    guard let waiter else { return false }
    waiter?.resume(returning: true)
    return true
  }

  /// Writes what the outbox holds until the link closes; throws the transport's error.
  func runWriter() async throws {
    var batch: [UInt8] = []
    while true {
      let ready = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let resumeNow = outbox.withLock { outbox -> Bool? in
          if outbox.closed { return false }
          if !outbox.bytes.isEmpty { return true }
          outbox.waiter = continuation
          return nil
        }
        if let resumeNow { continuation.resume(returning: resumeNow) }
      }
      guard ready else { return }
      outbox.withLock { outbox in swap(&batch, &outbox.bytes) }
      try await transport.write(batch)
      batch.removeAll(keepingCapacity: batch.capacity <= 1024 * 1024)
    }
  }

  /// Reads replies and hands each to `handle` until the peer closes (then throws) or the link is closed.
  func runReader(limits: RESPParser.Limits, _ handle: (RESPValue) throws(PubSubError) -> Void) async throws {
    var parser = RESPParser(limits: limits)
    while true {
      let open = try await transport.read { buffer -> Bool in
        guard buffer.count > 0 else { return false }
        try parser.append(buffer)
        return true
      }
      guard open else { throw PubSubError.unavailable("Redis closed the connection") }
      markActivity()
      while let value = try parser.next() { try handle(value) }
    }
  }

  func markActivity() {
    lastActivity.store(Int64((ContinuousClock.now - opened) / .nanoseconds(1)), ordering: .relaxed)
  }

  /// How long ago bytes last arrived.
  var silence: Duration {
    (ContinuousClock.now - opened) - .nanoseconds(lastActivity.load(ordering: .relaxed))
  }

  /// Closes the socket and stops the writer; wakes a pending read.
  func close() async {
    let waiter = outbox.withLock { outbox -> CheckedContinuation<Bool, Never>? in
      outbox.closed = true
      defer { outbox.waiter = nil }
      return outbox.waiter
    }
    waiter?.resume(returning: false)
    await transport.close()
  }
}

extension RedisLink {
  /// Connects to `endpoint` (default the configuration's) on `loop`, then AUTH (when configured), PING and the
  /// `extra` commands, each answered within the reply timeout; returns the link and the replies to `extra`.
  ///
  /// - Throws: `PubSubError` (refused, protocol violation, timed out) or the transport's error.
  static func open(
    _ configuration: RedisConfiguration, on loop: EventLoop, endpoint: Endpoint? = nil, then extra: [[UInt8]] = []
  ) async throws -> (RedisLink, [RESPValue]) {
    let link = RedisLink(
      transport: try await SocketConnector.connect(
        to: endpoint ?? configuration.endpoint, on: loop, timeout: configuration.connectTimeout))
    do {
      return (link, try await link.handshake(configuration, then: extra))
    } catch {
      await link.close()
      throw error
    }
  }

  private func handshake(_ configuration: RedisConfiguration, then extra: [[UInt8]]) async throws -> [RESPValue] {
    var command: [UInt8] = []
    if let password = configuration.password {
      if let username = configuration.username {
        RESPValue.command("AUTH", username, password, into: &command)
      } else {
        RESPValue.command("AUTH", password, into: &command)
      }
    }
    RESPValue.command("PING", into: &command)
    let greetings = configuration.password == nil ? 1 : 2
    for bytes in extra { command.append(contentsOf: bytes) }
    let request = command
    return try await withTransportDeadline(transport, timeout: configuration.replyTimeout, operation: "Redis handshake")
    {
      try await transport.write(request)
      var parser = RESPParser(limits: configuration.parserLimits)
      var replies: [RESPValue] = []
      var answered = 0
      while answered < greetings + extra.count {
        let open = try await transport.read { buffer -> Bool in
          guard buffer.count > 0 else { return false }
          try parser.append(buffer)
          return true
        }
        guard open else { throw PubSubError.unavailable("Redis closed the connection during the handshake") }
        while let value = try parser.next() {
          if case .error(let message) = value { throw PubSubError.refused(message) }
          answered += 1
          if answered <= greetings {
            guard case .simpleString = value else {
              throw PubSubError.protocolViolation("unexpected reply to AUTH/PING: \(value)")
            }
          } else {
            replies.append(value)
          }
        }
      }
      return replies
    }
  }
}
