import Synchronization

/// Spare large byte buffers, handed over when a socket has written them and taken again for the next large payload.
///
/// A 1 MiB payload in a fresh array costs more in page faults than in copying: the C library returns freed large
/// blocks to the system, and the next message touches new pages (docs/decisions/0009). The recycler keeps a few
/// buffers instead, bounded in number and in bytes. Owners pass it in (``WebSocketConnection`` passes ``shared``
/// to its state machine and decoder); the core never reaches for the shared one itself.
///
/// A written buffer is often still referenced when the socket is done with it (the sender is still inside `send`,
/// or the application keeps the message), so it is kept as a candidate and becomes a spare only once nothing else
/// references it: a buffer the application holds is never reused.
package final class LargeBufferRecycler: Sendable {
  /// The process-wide recycler that the decoder, the encoder and the sockets share: at most 16 buffers and 32 MiB
  /// (a few connections with large messages in flight each hold two or three buffers at a time).
  package static let shared = LargeBufferRecycler(maxBuffers: 16, maxBytes: 32 << 20)

  /// The smallest capacity worth keeping: 64 KiB (the size from which payloads are written by reference,
  /// `ConnectionStateMachine.zeroCopyThreshold`).
  package static let minimumCapacity = 64 * 1024

  private struct Buffers {
    /// Buffers nothing else references, emptied, ready to be taken.
    var spares: [[UInt8]] = []
    /// Written buffers that may still be referenced elsewhere, oldest first.
    var candidates: [[UInt8]] = []
    /// The capacity of spares and candidates together, in bytes.
    var bytes = 0
  }

  private let buffers = Mutex(Buffers())
  private let maxBuffers: Int
  private let maxBytes: Int

  /// Creates a recycler that keeps at most `maxBuffers` buffers and `maxBytes` bytes of capacity.
  package init(maxBuffers: Int, maxBytes: Int) {
    self.maxBuffers = maxBuffers
    self.maxBytes = maxBytes
  }

  /// An empty buffer with at least `minimumCapacity` bytes of capacity, if one is spare.
  package func take(minimumCapacity: Int) -> [UInt8]? {
    guard minimumCapacity >= Self.minimumCapacity else { return nil }
    return buffers.withLock { buffers in
      Self.promoteUnreferenced(&buffers)
      guard let index = buffers.spares.firstIndex(where: { $0.capacity >= minimumCapacity }) else { return nil }
      buffers.spares.swapAt(index, buffers.spares.count - 1)
      let spare = buffers.spares.removeLast()
      buffers.bytes -= spare.capacity
      return spare
    }
  }

  /// Takes a written buffer (leaving `buffer` empty) when it holds at least ``minimumCapacity`` bytes and fits the
  /// byte limit, evicting the oldest buffers if needed; otherwise leaves it as it is. The test is on the count, not the
  /// capacity: a large payload is that large, while an output buffer that a connection reuses (and so still
  /// references) rarely is, and taking it would make the connection allocate a new one.
  package func recycle(_ buffer: inout [UInt8]) {
    let capacity = buffer.capacity
    guard buffer.count >= Self.minimumCapacity, capacity <= maxBytes else { return }
    buffers.withLock { buffers in
      // Candidates released since the last look become spares first; then the oldest buffers make room, candidates
      // (still in use) before spares. Spares go too: buffers of an earlier workload (100 KB messages) must not
      // keep out the buffers of the current one (1 MB messages), which they are too small to serve.
      Self.promoteUnreferenced(&buffers)
      while buffers.spares.count + buffers.candidates.count >= maxBuffers || buffers.bytes + capacity > maxBytes {
        if !buffers.candidates.isEmpty {
          buffers.bytes -= buffers.candidates.removeFirst().capacity
        } else if !buffers.spares.isEmpty {
          buffers.bytes -= buffers.spares.removeFirst().capacity
        } else {
          return
        }
      }
      var candidate: [UInt8] = []
      swap(&candidate, &buffer)
      buffers.bytes += capacity
      buffers.candidates.append(candidate)
    }
  }

  /// The number of buffers ready to be taken (for tests).
  package var spareCount: Int {
    buffers.withLock {
      Self.promoteUnreferenced(&$0)
      return $0.spares.count
    }
  }

  /// Moves every candidate that nothing else references to the spares, emptied.
  private static func promoteUnreferenced(_ buffers: inout Buffers) {
    var index = 0
    while index < buffers.candidates.count {
      // Checked in a local variable: an element reached through the array may be checked in a temporary copy
      // (debug builds), which always looks shared.
      var candidate: [UInt8] = []
      swap(&candidate, &buffers.candidates[index])
      if isUniquelyReferenced(&candidate) {
        buffers.candidates.remove(at: index)
        // Unique, so this keeps the storage and its capacity (no copy).
        candidate.removeAll(keepingCapacity: true)
        buffers.spares.append(candidate)
      } else {
        swap(&candidate, &buffers.candidates[index])
        index += 1
      }
    }
  }

  /// Whether nothing but `buffer` references its storage. An array is one reference to its storage object, a
  /// native Swift object, so the standard check for native objects applies to it in place: it reads only the
  /// object's reference count, never its type (checked through a concrete class, the check is one inline call
  /// instead of the generic one `AnyObject` reaches).
  @inline(__always)
  static func isUniquelyReferenced(_ buffer: inout [UInt8]) -> Bool {
    withUnsafeMutablePointer(to: &buffer) { isUniquelyReferenced($0) }
  }

  /// ``isUniquelyReferenced(_:)`` of the array stored at `buffer`.
  @inline(__always)
  static func isUniquelyReferenced(_ buffer: UnsafeMutablePointer<[UInt8]>) -> Bool {
    precondition(MemoryLayout<[UInt8]>.size == MemoryLayout<StorageReference>.size, "an array is one reference")
    return buffer.withMemoryRebound(to: StorageReference.self, capacity: 1) { isKnownUniquelyReferenced(&$0.pointee) }
  }

  /// A stand-in type for an array's storage object in ``isUniquelyReferenced(_:)``; never instantiated.
  final class StorageReference {}
}
