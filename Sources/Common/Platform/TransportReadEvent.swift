/// What a ``Transport`` hands the read handler installed with ``Transport/startReading(_:directReader:)``.
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
