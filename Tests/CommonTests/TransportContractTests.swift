import Synchronization
import Testing
import WispCommon

/// A server connection and a raw client peer over an in-memory pipe of `capacity` bytes per direction, both on a
/// manual clock that never moves unless told to: the push path every socket runs, driven deterministically.
private func serverAndRawPeer(
  capacity: Int = 256 * 1024, _ configure: (inout WebSocketConnection.Options) -> Void = { _ in }
) -> (server: WebSocketConnection, peer: WebSocketConnection, serverEnd: MemoryTransport, peerEnd: MemoryTransport) {
  let (clientEnd, serverEnd) = MemoryTransport.pair(capacity: capacity)
  var options = WebSocketConnection.Options()
  options.clock = ManualSessionClock()
  configure(&options)
  var peerOptions = WebSocketConnection.Options()
  peerOptions.clock = ManualSessionClock()
  let server = WebSocketConnection(transport: serverEnd, configuration: .init(role: .server), options: options)
  let peer = WebSocketConnection(
    transport: clientEnd, configuration: .init(role: .client, mode: .raw), options: peerOptions)
  return (server, peer, serverEnd, clientEnd)
}

/// Waits until `condition` holds, yielding between checks; fails the test after `limit` checks.
private func waitUntil(
  _ what: String, limit: Int = 100_000, _ condition: () async -> Bool, sourceLocation: SourceLocation = #_sourceLocation
) async {
  for _ in 0..<limit {
    if await condition() { return }
    await Task.yield()
  }
  Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
  private let value = Atomic<Bool>(false)
  func set() { value.store(true, ordering: .sequentiallyConsistent) }
  var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// A payload whose bytes tell where they are, so that a reordering or a loss shows.
private func numbered(_ count: Int, seed: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed) }
}

@Suite("The push contract on the test host's pipe (the path sockets run, without timing)")
struct TransportContractTests {
  @Test("a read paused for room holds the rest in the pipe, and resumes as the application takes frames")
  func pausedForRoomAndResumed() async throws {
    let (server, peer, _, _) = serverAndRawPeer { $0.incomingCapacity = 2 }
    await server.start()
    // Ten messages of 40 KiB: more than one read's worth, so the server must pause before it has them all.
    let messages = (0..<10).map { numbered(40 * 1024, seed: $0) }
    let sending = Task { for message in messages { try await peer.send(.binary(message)) } }
    // The server decodes until its inbox is full, then pauses: what follows stays in the pipe.
    await waitUntil("the server's inbox is full") { await server.bufferedFrameCount >= 2 }
    for _ in 0..<1000 { await Task.yield() }
    let buffered = await server.bufferedFrameCount
    // At most the capacity plus what one 64 KiB read completed.
    #expect(buffered >= 2 && buffered <= 3)
    for (index, message) in messages.enumerated() {
      let frame = try #require(try await server.receive())
      #expect(frame.data == message, "message \(index) arrived changed")
    }
    try await sending.value
    #expect(await server.bufferedFrameCount == 0)
  }

  @Test("flush() waits while the pipe is full and returns once the peer has read everything")
  func flushMeetsAFullPipe() async throws {
    let (server, peer, serverEnd, _) = serverAndRawPeer(capacity: 4096)
    await server.start()
    let message = numbered(100 * 1024, seed: 3)
    try await server.send(.binary(message))
    let flushed = Flag()
    let flushing = Task {
      try await server.flush()
      flushed.set()
    }
    // The peer reads nothing yet: 4 KiB are in the pipe, the rest is queued and flush() cannot return.
    await waitUntil("the output is queued behind a full pipe") { serverEnd.queuedOutputCount > 90 * 1024 }
    #expect(!flushed.isSet)
    let frame = try #require(try await peer.receive())
    #expect(frame.data == message)
    try await flushing.value
    #expect(flushed.isSet)
    #expect(serverEnd.queuedOutputCount == 0)
  }

  @Test("a close that arrives while output is queued: the reply goes behind the queued message, nothing is lost")
  func closeWhileOutputIsQueued() async throws {
    let (server, peer, serverEnd, _) = serverAndRawPeer(capacity: 4096)
    await server.start()
    let message = numbered(200 * 1024, seed: 5)
    try await server.send(.binary(message))
    await waitUntil("the message is queued behind a full pipe") { serverEnd.queuedOutputCount > 0 }
    let queuedBefore = serverEnd.queuedOutputCount
    // The peer closes without reading: its close frame reaches the server while the message is still queued.
    try await peer.send(.close(CloseReason(code: 4002, message: "done")))
    let ending = Task { await server.closeReason }
    // The server answers at once (RFC 6455 section 5.5.1: it echoes the status code; the reason too, as Ktor): its
    // close reply, 2 bytes of header, 2 of code and 4 of reason, is queued behind the message, and it waits for the
    // peer to read them before it ends.
    await waitUntil("the close reply is queued") { serverEnd.queuedOutputCount == queuedBefore + 2 + 2 + 4 }
    #expect(await !server.isClosed)
    let first = try #require(try await peer.receive())
    #expect(first.data == message)
    let reply = try #require(try await peer.receive())
    #expect(reply.frameType == .close)
    #expect(reply.readReason() == CloseReason(code: 4002, message: "done"))
    #expect(await ending.value == CloseReason(code: 4002, message: "done"))
  }

  @Test("bytes that arrive before the session reads are pushed once it starts, with EOF after them")
  func bytesBeforeStartThenEndOfStream() async throws {
    let (server, peer, _, peerEnd) = serverAndRawPeer()
    try await peer.send(.text("early"))
    try await peer.flush()
    await peerEnd.close()
    // Nothing was read before: the first receive starts reading, and the frame comes before the end.
    #expect(try await server.receive() == .text("early"))
    #expect(try await server.receive() == nil)
    #expect(await server.closeReason.code == .abnormalClosure)
  }
}
