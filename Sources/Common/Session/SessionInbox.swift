/// The frames a session received and the application has not taken yet, and the application's side of receiving.
///
/// Invariants: ``receiver`` is set only while no frame is queued (a frame that arrives goes straight to it); a frame
/// leaves by move, so the application holds the only reference to its payload besides the loop's payload pool, to
/// which a payload under 64 KiB is offered as it leaves (the pool reuses it only once the application has let go of
/// it); a large one is the application's alone (it can be recycled once written back). The queue holds at most
/// ``capacity`` frames plus the rest of one read when the overflow policy suspends reading (the session stops
/// reading once it is full).
struct SessionInbox: ~Copyable {
  /// The queue; it allocates with the first frame, so a connection that never receives one does not pay for it.
  private var frames = FrameRing()
  // The flags right after the ring: they fill its tail padding.
  /// The application has asked for a frame at least once (the close reply then waits longer for it).
  private(set) var applicationReads = false
  /// The application holds a frame it took and has not asked for the next one yet: it may be answering it.
  private(set) var applicationHoldsMessage = false
  /// The application has run since the last frame was handed to its waiting receive (it was resumed, and its task
  /// ran). A resumed task may wait behind other work before it runs, so a close reply does not start its short
  /// wait for the answer until then.
  private(set) var applicationAwake = true
  /// Whole messages (raw: frames) buffered before the overflow policy applies; `Int.max` for unlimited.
  var capacity: Int
  /// The task waiting in ``WebSocketConnection/receive()``. Unsafe rather than checked: the checked kind is a
  /// resilient type that costs on every delivery (docs/decisions/0011). Resumed only after ``takeReceiver()``
  /// cleared it.
  private var receiver: UnsafeContinuation<Frame?, any Error>?

  init(capacity: Int) {
    self.capacity = capacity
  }

  /// The number of frames waiting. Mutating on purpose: the inbox lives in an actor's stored property, where a
  /// non-mutating read may copy the whole value (retaining its array) on every check.
  @inline(__always)
  mutating func count() -> Int { frames.count }

  /// Whether the queue holds ``capacity`` frames or more.
  @inline(__always)
  mutating func isFull() -> Bool { count() >= capacity }

  /// Queues a frame that arrived.
  @inline(__always)
  mutating func append(_ frame: consuming Frame) {
    frames.append(frame)
  }

  /// The application asks for the next frame: it no longer holds the last one. Returns the next frame, if any.
  @inline(__always)
  mutating func applicationAsks(offeringTo machine: inout ConnectionStateMachine) -> Frame? {
    applicationReads = true
    applicationAwake = true
    applicationHoldsMessage = false
    guard count() > 0 else { return nil }
    return take(offeringTo: &machine)
  }

  /// Takes the next frame (by move) for the application, which then holds it; the queue must not be empty.
  ///
  /// The payload is offered to the machine's pool (the decoder's, on the loop's thread) as it leaves: once the
  /// application lets go of it, its buffer carries a later frame of any session on the loop. Offered here rather than when sent, so
  /// that an application that receives without sending the same bytes back (a client, a consumer) allocates no
  /// payload per message either, and an echo's payload is kept once (docs/decisions/0022).
  @inline(__always)
  mutating func take(offeringTo machine: inout ConnectionStateMachine) -> Frame {
    applicationHoldsMessage = true
    let frame = frames.removeFirst()
    machine.offerDelivered(frame.data)
    return frame
  }

  /// The application sent the last frame of a message: it has answered the one it holds, if any.
  @inline(__always)
  mutating func applicationAnswered() {
    applicationHoldsMessage = false
    applicationAwake = true
  }

  /// Stores the waiting receive.
  mutating func park(_ continuation: UnsafeContinuation<Frame?, any Error>) {
    receiver = continuation
  }

  /// Hands `frame` to the waiting receive (which the caller took with ``takeReceiver()``): the application holds it
  /// from now on, but has not run yet.
  @inline(__always)
  mutating func handOver(
    to receiver: UnsafeContinuation<Frame?, any Error>, offeringTo machine: inout ConnectionStateMachine
  ) {
    let frame = take(offeringTo: &machine)
    applicationAwake = false
    receiver.resume(returning: frame)
  }

  /// The application's receive returned: its task runs.
  @inline(__always)
  mutating func applicationResumed() {
    applicationAwake = true
  }

  /// Removes and returns the waiting receive, if any.
  @inline(__always)
  mutating func takeReceiver() -> UnsafeContinuation<Frame?, any Error>? {
    guard let receiver else { return nil }
    self.receiver = nil
    return receiver
  }
}
