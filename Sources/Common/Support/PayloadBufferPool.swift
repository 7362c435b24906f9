/// Spare payload buffers under 64 KiB for the connections of one event loop: the payload of a frame handed to the
/// application is offered here, and the decoder takes it again for the next frame it receives once nothing else
/// references it.
///
/// An echo or a relay allocates one payload per message it receives and frees it once the answer is encoded; with
/// 16 messages per read and 64 connections per loop those come in bursts larger than the C library's per-thread
/// cache, so about half of them took its slow paths (about 6 % of the server's time at 64 B, docs/decisions/0022).
/// A payload is still referenced when it is offered (the application is about to get it), so the pool keeps it as
/// it is and checks, when the decoder asks, that the pool's reference is the only one left: a buffer the
/// application still holds is dropped from the pool, never reused.
///
/// Buffers are sorted by capacity into power-of-two classes; a request for `n` bytes is served by the last buffer
/// of `n`'s own class when that one is large enough, else by the next class up, whose buffers all hold at least `n`:
/// a buffer handed out is less than four times the size asked for. The pool keeps at most 1,024 buffers per class
/// and 2 MiB of capacity in all, and ``releaseUnused()`` lets go of the classes that are no longer asked for.
///
/// Not thread-safe, on purpose: it belongs to one serial executor (the event loop of ``Transport/payloadPool``),
/// and only code running there (the connection actors on that loop) may use it.
package final class PayloadBufferPool: @unchecked Sendable {
  /// Buffers from this capacity on are not kept: 64 KiB, where payloads go to the socket by reference
  /// (`ConnectionStateMachine.zeroCopyThreshold`) and `LargeBufferRecycler` takes over.
  package static let capacityLimit = 64 * 1024
  /// Buffers under this capacity are not kept: 16 bytes (an allocation that small costs as much as the bookkeeping).
  package static let smallestCapacity = 16
  /// Classes 0 to 15: capacities `[2^k, 2^(k+1))`; the lowest four stay empty (``smallestCapacity``).
  private static let classCount = 16

  /// One stack of buffers per class, each `maxBuffersPerClass` slots allocated when the class is first used; plain
  /// memory rather than arrays of arrays, so that a push or a pop is a store or a load (no uniqueness check, no
  /// reference counting beyond the buffer's own).
  private let stacks: UnsafeMutablePointer<UnsafeMutablePointer<[UInt8]>?>
  /// The number of buffers in each class's stack.
  private let counts: UnsafeMutablePointer<Int>
  private let maxBuffersPerClass: Int
  private let maxBytes: Int
  /// The capacity of the buffers kept, in bytes.
  private var bytes = 0
  /// Buffers taken in a row that were still referenced elsewhere; from ``missesBeforeSampling`` on, only one
  /// offer in ``samplingInterval`` is kept (see ``offer(_:)``).
  private var misses = 0
  /// Offers passed over since misses began to be sampled.
  private var passedOver = 0
  /// The classes a buffer was taken from since the last ``releaseUnused()``: bit `k` for class `k`.
  private var takenClasses: UInt32 = 0
  /// Misses in a row after which offers are sampled: 64.
  static let missesBeforeSampling = 64
  /// While sampling, one offer in 64 is kept: enough to notice when buffers come back unique again.
  static let samplingInterval = 64

  /// Creates an empty pool that keeps at most `maxBuffersPerClass` buffers of each power-of-two class and
  /// `maxBytes` bytes of capacity in all (defaults: 1,024 and 2 MiB per event loop).
  package init(maxBuffersPerClass: Int = 1024, maxBytes: Int = 2 << 20) {
    self.maxBuffersPerClass = max(0, maxBuffersPerClass)
    self.maxBytes = maxBytes
    stacks = .allocate(capacity: Self.classCount)
    stacks.initialize(repeating: nil, count: Self.classCount)
    counts = .allocate(capacity: Self.classCount)
    counts.initialize(repeating: 0, count: Self.classCount)
  }

  deinit {
    for index in 0..<Self.classCount {
      guard let slots = stacks[index] else { continue }
      slots.deinitialize(count: counts[index])
      slots.deallocate()
    }
    stacks.deallocate()
    counts.deallocate()
  }

  /// An empty buffer with room for at least `minimumCapacity` bytes that nothing else references, or `nil` when
  /// none is spare (the caller allocates).
  @inline(__always)
  package func take(minimumCapacity: Int) -> [UInt8]? {
    guard var buffer = takeSpare(minimumCapacity: minimumCapacity) else { return nil }
    buffer.removeAll(keepingCapacity: true)
    return buffer
  }

  /// A buffer of `count` bytes, all written by `initialize` (given the start of the storage), made of a spare
  /// buffer that nothing else references; `nil` when none is spare (the caller allocates).
  ///
  /// A buffer that already holds `count` bytes (the previous payload of an echo of equal-sized messages) is
  /// overwritten in place, without emptying it first.
  @inline(__always)
  package func take(count: Int, initializingWith initialize: (UnsafeMutableRawPointer) -> Void) -> [UInt8]? {
    guard var buffer = takeSpare(minimumCapacity: count) else { return nil }
    if buffer.count == count {
      buffer.withUnsafeMutableBytes { initialize($0.baseAddress.unsafelyUnwrapped) }
      return buffer
    }
    buffer.removeAll(keepingCapacity: true)
    #if compiler(>=6.2)
      buffer.append(addingCapacity: count) { span in
        span.withUnsafeMutableBufferPointer { storage, initialized in
          initialize(UnsafeMutableRawPointer(storage.baseAddress.unsafelyUnwrapped))
          initialized = count
        }
      }
    #else
      buffer.append(contentsOf: repeatElement(0, count: count))
      buffer.withUnsafeMutableBytes { initialize($0.baseAddress.unsafelyUnwrapped) }
    #endif
    return buffer
  }

  /// A spare buffer of the class that serves `minimumCapacity` bytes, with whatever it held, when the class has one
  /// and nothing else references it.
  @inline(__always)
  private func takeSpare(minimumCapacity: Int) -> [UInt8]? {
    guard minimumCapacity > 0, minimumCapacity < Self.capacityLimit else { return nil }
    // n's own class, k = floor(log2(n)), holds 2^k to 2^(k+1) - 1 bytes: its last buffer serves when it is large
    // enough (an echo of n-byte messages gets back the buffers of the n-byte messages before), with less than
    // twice the bytes asked for. Otherwise the next class, whose buffers all hold at least 2^(k+1) > n bytes and
    // less than four times n.
    let own = Int.bitWidth &- 1 &- minimumCapacity.leadingZeroBitCount
    let ownCount = counts[own]
    if ownCount > 0, stacks[own].unsafelyUnwrapped[ownCount &- 1].capacity >= minimumCapacity {
      return takeUnique(from: own, count: ownCount)
    }
    let next = own &+ 1
    guard next < Self.classCount else { return nil }
    let nextCount = counts[next]
    guard nextCount > 0 else { return nil }
    return takeUnique(from: next, count: nextCount)
  }

  private func takeUnique(from index: Int, count: Int) -> [UInt8]? {
    counts[index] = count &- 1
    let slot = stacks[index].unsafelyUnwrapped + (count &- 1)
    bytes &-= slot.pointee.capacity
    // Checked in the slot, then moved out of it: the pool's reference becomes the caller's with no reference
    // counting. A buffer the application still references is dropped (its reference stays valid; this one goes).
    let unique = LargeBufferRecycler.isUniquelyReferenced(slot)
    let buffer = slot.move()
    misses = unique ? 0 : misses &+ 1
    takenClasses |= 1 &<< UInt32(truncatingIfNeeded: index)
    return unique ? buffer : nil
  }

  /// Keeps a reference to `buffer` (a payload handed to the application, or TLS ciphertext) for a later
  /// ``take(minimumCapacity:)``, when its capacity is between 16 bytes and 64 KiB and the pool has room; otherwise
  /// leaves it alone.
  ///
  /// When the last 64 buffers taken were all still referenced elsewhere (an application that keeps the messages it
  /// receives), keeping more only costs reference counting: then one offer
  /// in 64 is kept, until a buffer comes back unique.
  @inline(__always)
  package func offer(_ buffer: [UInt8]) {
    let capacity = buffer.capacity
    guard capacity >= Self.smallestCapacity, capacity < Self.capacityLimit else { return }
    if misses >= Self.missesBeforeSampling {
      passedOver &+= 1
      guard passedOver >= Self.samplingInterval else { return }
      passedOver = 0
    }
    keep(buffer, capacity: capacity)
  }

  private func keep(_ buffer: [UInt8], capacity: Int) {
    // The class of floor(log2(capacity)).
    let index = Int.bitWidth &- 1 &- capacity.leadingZeroBitCount
    let count = counts[index]
    guard count < maxBuffersPerClass, bytes &+ capacity <= maxBytes else { return }
    let slots = stacks[index] ?? makeSlots(for: index)
    (slots + count).initialize(to: buffer)
    counts[index] = count &+ 1
    bytes &+= capacity
  }

  private func makeSlots(for index: Int) -> UnsafeMutablePointer<[UInt8]> {
    let slots = UnsafeMutablePointer<[UInt8]>.allocate(capacity: maxBuffersPerClass)
    stacks[index] = slots
    return slots
  }

  /// Releases the buffers of every class that nothing was taken from since the previous call, so that the spares
  /// of a burst do not stay for good: the event loop calls it every 10 s while the pool keeps anything (a class in
  /// steady use keeps its buffers). Returns whether the pool still keeps any.
  @discardableResult
  package func releaseUnused() -> Bool {
    for index in 0..<Self.classCount where takenClasses & (1 &<< UInt32(index)) == 0 {
      let count = counts[index]
      guard count > 0, let slots = stacks[index] else { continue }
      for position in 0..<count { bytes &-= slots[position].capacity }
      slots.deinitialize(count: count)
      counts[index] = 0
    }
    takenClasses = 0
    return bytes > 0
  }

  /// The number of buffers kept, whether or not something else still references them (for tests).
  package var count: Int { (0..<Self.classCount).reduce(0) { $0 + counts[$1] } }

  /// The capacity of the buffers kept, in bytes (for tests).
  package var keptBytes: Int { bytes }
}
