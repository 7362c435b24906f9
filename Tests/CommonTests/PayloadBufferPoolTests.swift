import Testing

@testable import WispCommon

@Suite("Payload buffer pool")
struct PayloadBufferPoolTests {
  /// Debug builds keep extra references to fresh arrays, so a buffer never looks unreferenced there and is never
  /// reused (safe, but nothing to test): the reuse tests run in release builds (`scripts/release-smoke` runs the
  /// suite built in release), as in `LargeBufferRecyclerTests`.
  static let optimized = !_isDebugAssertConfiguration()

  /// A buffer that only the caller references, with `count` bytes of `value`.
  static func buffer(_ count: Int, _ value: UInt8 = 0xEE) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.append(contentsOf: repeatElement(value, count: count))
    return bytes
  }

  /// Offers a fresh buffer of `count` bytes that nothing else references once this returns; returns its capacity.
  @inline(never)
  static func offerFresh(_ pool: PayloadBufferPool, count: Int) -> Int {
    let bytes = buffer(count)
    pool.offer(bytes)
    return bytes.capacity
  }

  /// The address of an array's storage, to tell whether two arrays share it.
  static func address(_ bytes: [UInt8]) -> UInt {
    bytes.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
  }

  @Test("a payload the application still holds is never handed out, and stays as it was")
  func heldBufferIsNotReused() {
    let pool = PayloadBufferPool()
    let held = Self.buffer(100, 7)
    pool.offer(held)
    #expect(pool.count == 1, "kept as a candidate")
    #expect(pool.take(count: 100) { $0.initializeMemory(as: UInt8.self, repeating: 0, count: 100) } == nil)
    #expect(pool.count == 0, "the candidate was dropped when it turned out to be held")
    #expect(held == Self.buffer(100, 7))
  }

  @Test("an unreferenced buffer comes back overwritten in place, or empty", .enabled(if: optimized))
  func unreferencedBufferIsReused() {
    let pool = PayloadBufferPool()
    let capacity = Self.offerFresh(pool, count: 100)
    let reused = pool.take(count: 100) { $0.initializeMemory(as: UInt8.self, repeating: 0x5A, count: 100) }
    #expect(reused == Self.buffer(100, 0x5A))
    #expect(reused?.capacity == capacity)
    #expect(pool.count == 0 && pool.keptBytes == 0)
    // Another size in the same class: emptied, then written.
    _ = Self.offerFresh(pool, count: 100)
    let shorter = pool.take(count: 70) { $0.initializeMemory(as: UInt8.self, repeating: 1, count: 70) }
    #expect(shorter == Self.buffer(70, 1))
    _ = Self.offerFresh(pool, count: 100)
    #expect(pool.take(minimumCapacity: 90) == [])
  }

  @Test("a buffer serves requests it can hold that are more than a quarter of it", .enabled(if: optimized))
  func sizeClasses() {
    var generator = SeededGenerator(seed: testSeed)
    for _ in 0..<500 {
      let pool = PayloadBufferPool()
      let capacity = Self.offerFresh(pool, count: Int.random(in: 16...60_000, using: &generator))
      let request = Int.random(in: 1...70_000, using: &generator)
      if let taken = pool.take(minimumCapacity: request) {
        #expect(taken.capacity == capacity && taken.isEmpty, "seed \(testSeed)")
        #expect(capacity >= request && capacity < 4 * request, "capacity \(capacity), request \(request)")
      } else {
        #expect(pool.count == 1, "a request of another class leaves the buffer kept")
        // Served: a request of the buffer's power-of-two class that it can hold, and the requests of the class
        // below.
        let bufferClass = Int.bitWidth - 1 - capacity.leadingZeroBitCount
        let requestClass = Int.bitWidth - 1 - request.leadingZeroBitCount
        let served = (requestClass == bufferClass && capacity >= request) || requestClass + 1 == bufferClass
        #expect(request >= 65536 || !served, "capacity \(capacity), request \(request)")
      }
    }
  }

  @Test("the pool keeps a bounded number of buffers and bytes, and only those from 16 B to under 64 KiB")
  func bounded() {
    let pool = PayloadBufferPool(maxBuffersPerClass: 2, maxBytes: 8_000)
    let held = (0..<3).map { _ in Self.buffer(100) }
    for buffer in held { pool.offer(buffer) }
    #expect(pool.count == 2, "two per class")
    let large = Self.buffer(4000)
    pool.offer(large)
    pool.offer(Self.buffer(5000))
    #expect(pool.keptBytes <= 8_000)
    #expect(pool.count == 3, "the 5,000-byte buffer would pass the byte limit")
    pool.offer(Self.buffer(70_000))
    #expect(pool.count == 3, "buffers of 64 KiB and more are left alone")
    // The capacity decides, and the C library may hand out more than asked for.
    let tiny = Self.buffer(4)
    pool.offer(tiny)
    #expect(pool.count == (tiny.capacity < 16 ? 3 : 4), "buffers under 16 bytes are left alone")
  }

  @Test("a release lets go of the classes nothing was taken from since the previous one")
  func releaseUnused() {
    let pool = PayloadBufferPool()
    let small = Self.buffer(100)
    let large = Self.buffer(5000)
    pool.offer(small)
    pool.offer(small)
    pool.offer(large)
    // Asked for (the buffer popped is still held, so nothing comes back, but the class is in use).
    #expect(pool.take(minimumCapacity: 100) == nil)
    #expect(pool.releaseUnused(), "the small class is kept")
    #expect(pool.count == 1 && pool.keptBytes == small.capacity)
    #expect(!pool.releaseUnused(), "nothing taken since: released too")
    #expect(pool.count == 0 && pool.keptBytes == 0)
    #expect(small == Self.buffer(100) && large == Self.buffer(5000))
  }

  @Test("after 64 held buffers in a row, only one offer in 64 is kept")
  func heldBuffersAreSampled() {
    let pool = PayloadBufferPool()
    let held = Self.buffer(100)
    for _ in 0..<64 {
      pool.offer(held)
      #expect(pool.take(minimumCapacity: 100) == nil)
    }
    for _ in 0..<63 { pool.offer(held) }
    #expect(pool.count == 0, "offers passed over while the buffers keep coming back held")
    pool.offer(held)
    #expect(pool.count == 1, "one in 64 is kept, to notice when buffers come back unique")
  }

  @Test("frames decoded into pooled buffers are the frames sent, and payloads kept are never overwritten")
  func decodingWithAPool() throws {
    var generator = SeededGenerator(seed: testSeed)
    let pool = PayloadBufferPool()
    var decoder = FrameDecoder(configuration: serverDecoder, pool: pool)
    var kept: [(payload: [UInt8], copy: [UInt8])] = []
    for round in 0..<100 {
      let frames = FuzzLiteTests.randomFrames(&generator)
      let bytes = FuzzLiteTests.encode(frames, masked: true, &generator)
      var decoded: [FrameDecoder.DecodedFrame] = []
      var start = 0
      for end in FuzzLiteTests.randomCuts(bytes.count, &generator) + [bytes.count] where end >= start {
        let piece = Array(bytes[start..<end])
        var offset = 0
        while case .frame(let frame) = try decoder.decode(piece, offset: &offset) { decoded.append(frame) }
        start = end
      }
      FuzzLiteTests.expectSame(decoded, frames, round: round)
      // As a session does when it hands a frame to the application: offered to the pool; some kept by the application.
      for frame in decoded {
        pool.offer(frame.payload)
        if Int.random(in: 0..<4, using: &generator) == 0 { kept.append((frame.payload, frame.payload.map { $0 })) }
      }
    }
    #expect(kept.allSatisfy { $0.payload == $0.copy }, "seed \(testSeed)")
  }

  /// A server machine with a pool receives a client's masked frame of `count` bytes of `value`; the frame reaches
  /// the application through an inbox, as in a session (whose hand-out offers the payload to the pool); the
  /// application echoes it when `echoes`, and returns it.
  static func receive(
    _ machine: inout ConnectionStateMachine, _ inbox: inout SessionInbox, _ count: Int, _ value: UInt8,
    echoes: Bool = true
  ) throws -> Frame {
    let events = machine.receive(
      wireFrame(opcode: .binary, payload: buffer(count, value), mask: MaskingKey(1, 2, 3, 4)))
    guard case .frame(let frame)? = events.first else { throw PoolTestError.noFrame }
    inbox.append(frame)
    let delivered = inbox.take(offeringTo: &machine)
    if echoes {
      try machine.send(delivered)
      _ = machine.takeOutput()
    }
    return delivered
  }

  enum PoolTestError: Error { case noFrame }

  static func serverMachine(_ pool: PayloadBufferPool) -> ConnectionStateMachine {
    ConnectionStateMachine(
      configuration: .init(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20), pool: pool)
  }

  @Test(
    "an echoed message's buffer carries the next message once the application lets go of it",
    .enabled(if: optimized))
  func echoReusesTheBuffer() throws {
    let pool = PayloadBufferPool()
    var machine = Self.serverMachine(pool)
    var inbox = SessionInbox(capacity: 16)
    let first = try Self.address(Self.receive(&machine, &inbox, 64, 1).data)
    let second = try Self.receive(&machine, &inbox, 64, 2)
    #expect(Self.address(second.data) == first, "the first payload's storage, reused")
    #expect(second.data == Self.buffer(64, 2))
  }

  @Test(
    "a received message the application drops without sending it carries the next one (a client's pattern)",
    .enabled(if: optimized))
  func droppedMessageReusesTheBuffer() throws {
    let pool = PayloadBufferPool()
    var machine = Self.serverMachine(pool)
    var inbox = SessionInbox(capacity: 16)
    var addresses: Set<UInt> = []
    for round in 0..<32 {
      let frame = try Self.receive(&machine, &inbox, 64, UInt8(round), echoes: false)
      #expect(frame.data == Self.buffer(64, UInt8(round)))
      #expect(pool.count == 1, "the pool keeps the payload it handed out (not freed: malloc cannot reuse it)")
      addresses.insert(Self.address(frame.data))
    }
    #expect(addresses.count == 1, "one buffer carried all 32 messages: \(addresses.count)")
  }

  @Test("a handed-out payload is offered to the pool, and a sent one is not (it was offered when it arrived)")
  func offeredAtHandOut() throws {
    let pool = PayloadBufferPool()
    var machine = Self.serverMachine(pool)
    var inbox = SessionInbox(capacity: 16)
    let frame = try Self.receive(&machine, &inbox, 64, 1, echoes: false)
    #expect(pool.count == 1)
    try machine.send(frame)
    _ = machine.takeOutput()
    #expect(pool.count == 1, "a payload is kept once")
    try machine.send(.binary(Self.buffer(64, 3)))
    _ = machine.takeOutput()
    #expect(pool.count == 1)
  }

  @Test("an echoed message the application keeps is left as it was")
  func keptEchoIsUntouched() throws {
    let pool = PayloadBufferPool()
    var machine = Self.serverMachine(pool)
    var inbox = SessionInbox(capacity: 16)
    let first = try Self.receive(&machine, &inbox, 64, 1)
    let second = try Self.receive(&machine, &inbox, 64, 2)
    let third = try Self.receive(&machine, &inbox, 64, 3, echoes: false)
    #expect(first.data == Self.buffer(64, 1))
    #expect(second.data == Self.buffer(64, 2))
    #expect(third.data == Self.buffer(64, 3))
    #expect(Set([first, second, third].map { Self.address($0.data) }).count == 3)
  }
}
