/// What a ``ReadinessDrivenTransport`` hands its read handler.
///
/// `@unchecked Sendable`: the buffer is handed synchronously to code running on the transport's executor, which
/// must not keep it past the call; it never crosses to another thread.
public enum TransportReadEvent: @unchecked Sendable {
  /// Bytes that arrived, in a buffer valid only during the call (the event loop's read buffer): copy what you keep.
  case bytes(UnsafeRawBufferPointer)
  /// The peer closed its side (EOF). No event follows.
  case endOfStream
  /// Reading failed (a reset, for example). No event follows.
  case failed(any Error)
}

/// A transport that can push what arrives to a handler on its executor, instead of waking a task that waits in
/// ``Transport/read(_:)``.
///
/// A waiting task costs a suspension and two resumptions per read (the runtime resumes a continuation on the
/// task's generic executor and then hops to the session's actor); a handler called by the event loop when the
/// socket becomes readable costs a function call. Sessions use it when the transport offers it, and fall back to
/// ``Transport/read(_:)`` otherwise (TLS, the in-memory test transport).
public protocol ReadinessDrivenTransport: Transport {
  /// Starts calling `handler` on the transport's executor with what arrives, until it returns `false` (reading
  /// pauses until ``resumeReading()``), or after ``TransportReadEvent/endOfStream`` or
  /// ``TransportReadEvent/failed(_:)``, or until the transport closes (which drops the handler). Call it once, from
  /// the transport's executor; the first bytes may be delivered on a later turn of the loop, never inside this call.
  ///
  /// `directReader`, when given, is asked before each read whether the bytes should go straight into storage of the
  /// caller's (a large payload still arriving) instead of the transport's buffer: it returns `nil` to decline, or
  /// calls the transport's `read` function once with its destination and returns what `read` returned (the bytes
  /// read; 0 or less for end of stream or an error, which the transport then reports to `handler`). After a direct
  /// read of some bytes the transport calls `handler` with an empty ``TransportReadEvent/bytes(_:)``, so that the
  /// caller can act on what it received. It runs on the transport's executor, like `handler`.
  func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  )

  /// Resumes calling the handler after it returned `false`. What is already buffered is delivered on a later turn
  /// of the loop (never inside this call, so the caller may hold state the handler touches).
  func resumeReading()

  /// Installs the pull side of writing: after ``requestWrite()``, at the end of the loop's turn (and again when the
  /// socket can take more), the transport calls `source` for the bytes to write, one piece per call, in order,
  /// until it returns `nil`. Lets a session batch its answers without a task per batch. Call once, from the
  /// transport's executor; closing the transport drops the source.
  func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?)

  /// Asks the transport to call the write source at the end of this turn of the loop. From the executor only.
  func requestWrite()
}
