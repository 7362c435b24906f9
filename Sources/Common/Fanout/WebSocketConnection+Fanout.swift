// Fan-out (``Topics``): messages published to a topic move from a subscriber's queue into the connection's output.
extension WebSocketConnection {
  /// What one pass of ``takeFanout(from:)`` achieved.
  enum FanoutProgress {
    /// The subscriber's queue is empty.
    case drained
    /// The output holds 64 KiB or more: the rest waits in the subscriber's queue until the socket takes it.
    case outputFull
    /// The application is sending a fragmented message: published messages wait until its last fragment, since
    /// "the fragments of one message MUST NOT be interleaved between the fragments of another message" (RFC 6455
    /// section 5.4).
    case waitingForFragments
    /// The connection has ended or sent its close frame: the subscriber is done.
    case ended
  }

  /// Moves queued messages of `subscriber` into the output, each in the shared encoding that fits this connection
  /// (``FanoutEncoding``), until the queue is empty or 64 KiB are queued; the write goes out with the loop's batch.
  func takeFanout(from subscriber: TopicSubscriber) -> FanoutProgress {
    if lifecycle.hasEnded() { return .ended }
    let encoding = FanoutEncoding(configuration: machine.configuration, extensions: extensions)
    var queuedAny = false
    defer { if queuedAny { scheduleFlush() } }
    while machine.outputCount + transport.queuedOutputCount < Self.coalescingLimit {
      guard let published = subscriber.takeNext() else { return .drained }
      do {
        let framing = published.effectiveFraming(subscriber.framing)
        switch encoding {
        case .plain:
          try machine.sendEncoded(published.encoding(in: framing), type: published.message.type)
        case .sharedDeflate(let deflate, let key):
          let type = published.message.type
          if deflate.compresses(Frame(unchecked: true, type, published.payload(in: framing))) {
            let bytes = try published.compressedEncoding(for: key, in: framing) { try deflate.compressWholeMessage($0) }
            try machine.sendEncoded(bytes, type: type)
          } else {
            try machine.sendEncoded(published.encoding(in: framing), type: type)
          }
        case .individual:
          try machine.send(Frame(unchecked: true, published.message.type, published.payload(in: framing)))
        }
        queuedAny = true
        trafficCounts.messagesSent &+= 1
        trafficCounts.bytesSent &+= published.message.payload.count
      } catch ConnectionUsageError.interleavedMessage {
        subscriber.putBack(published)
        return .waitingForFragments
      } catch {
        // Our close frame went out, or the compressor failed (out of memory): this subscriber is done.
        return .ended
      }
    }
    return .outputFull
  }

  /// Waits until the connection can take more fan-out: the machine's output handed to the transport, and the
  /// transport's queue below 64 KiB (the socket has taken the rest). As the connection's one writer while it waits,
  /// so that it never races the session's own writes.
  ///
  /// - Throws: ``ConnectionClosedError`` after the end; the transport's error.
  func waitForFanoutRoom() async throws {
    try await drainOutput(waitingForTransport: false)
    while !lifecycle.hasEnded(), transport.queuedOutputCount >= Self.coalescingLimit {
      if writer.isWriting() {
        _ = try await waitForWriter()
        continue
      }
      writer.phase = .writing
      var failure: (any Error)?
      do { try await transport.waitForQueuedOutput(below: Self.coalescingLimit) } catch { failure = error }
      writer.phase = .idle
      if failure == nil { scheduleFlush() }
      for waiter in writer.takeWaiters() {
        if let failure { waiter.resume(throwing: failure) } else { waiter.resume(returning: true) }
      }
      if let failure { throw failure }
    }
    if lifecycle.hasEnded() { throw closedError() }
  }

  /// ``takeFanout(from:)`` when the caller runs on the connection's event loop thread; `nil` elsewhere (it then
  /// awaits the isolated call).
  nonisolated func takeFanoutOnExecutorThread(from subscriber: TopicSubscriber) -> FanoutProgress? {
    guard transport.isExecutorThread else { return nil }
    return callIsolated({ connection, subscriber in connection.takeFanout(from: subscriber) }, subscriber)
  }
}
