import CWispOpenSSL

/// The ciphertext between one TLS connection's OpenSSL object and its carrier, behind a BIO of the library's own
/// (docs/decisions/0033).
///
/// OpenSSL reads records from what the carrier pushed, in place, and writes the records it makes into ``output``,
/// which the carrier takes as it is. OpenSSL's memory BIOs cost a copy each way and zeroed every byte they grew by
/// (`BUF_MEM_grow_clean`): 13 % of a 4 KiB TLS echo server's time went to `memmove` and 6 % to `memset`.
///
/// Confined to the connection's event loop, like the ``TLSTransport`` that owns it: OpenSSL calls the BIO only from
/// the calls the transport makes there. So its fields are not checked for exclusive access at run time (two checks
/// per BIO call, each a thread-local lookup), and the BIO's callbacks borrow it without retaining it.
final class TLSCiphertextBuffers {
  /// Ciphertext the carrier is pushing now, read in place: valid only during that push (``keepUnreadPush()``).
  @exclusivity(unchecked) var pushed = UnsafeRawBufferPointer(start: nil, count: 0)
  /// Ciphertext received and not yet read by OpenSSL, from ``keptOffset``: what a push left unread (the session
  /// paused), and what the pull path read (the handshake, ``Transport/read(_:)``).
  @exclusivity(unchecked) private var kept: [UInt8] = []
  @exclusivity(unchecked) private var keptOffset = 0
  /// Ciphertext OpenSSL made and the carrier has not taken yet.
  @exclusivity(unchecked) var output: [UInt8] = []

  /// Bytes of ciphertext received and not yet read by OpenSSL.
  var unreadCount: Int { kept.count - keptOffset + pushed.count }

  /// Keeps what OpenSSL did not read of the current push (a paused session), before the carrier reuses its storage;
  /// once everything kept is read, its storage goes (an idle connection holds no ciphertext buffer).
  func keepUnreadPush() {
    guard pushed.isEmpty else {
      keep(pushed)
      pushed = UnsafeRawBufferPointer(start: nil, count: 0)
      return
    }
    if keptOffset == kept.count, kept.capacity > 0 {
      kept = []
      keptOffset = 0
    }
  }

  /// Keeps received ciphertext for OpenSSL's next reads.
  func keep(_ bytes: UnsafeRawBufferPointer) {
    if keptOffset == kept.count {
      kept.removeAll(keepingCapacity: kept.capacity <= 64 * 1024)
      keptOffset = 0
    }
    kept.append(contentsOf: bytes)
  }

  /// OpenSSL's read: up to `count` bytes of what was kept, then of the current push; 0 when there is none.
  fileprivate func read(into destination: UnsafeMutableRawPointer, count: Int) -> Int {
    if keptOffset < kept.count {
      let taken = min(count, kept.count - keptOffset)
      kept.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress! + keptOffset, byteCount: taken) }
      keptOffset += taken
      return taken
    }
    let taken = min(count, pushed.count)
    guard taken > 0 else { return 0 }
    destination.copyMemory(from: pushed.baseAddress!, byteCount: taken)
    pushed = UnsafeRawBufferPointer(rebasing: pushed[taken...])
    return taken
  }

  /// Makes the BIO OpenSSL reads from and writes to (one for both directions, freed with the SSL object). The BIO
  /// refers to these buffers without retaining them: their owner frees the SSL object first.
  func makeBIO() -> OpaquePointer? {
    guard let bio = BIO_new(ciphertextBIOMethod) else { return nil }
    BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
    BIO_set_init(bio, 1)
    return bio
  }
}

/// Runs `body` with the buffers of the BIO OpenSSL calls, borrowed (their transport owns them and outlives the BIO):
/// no retain and release per call.
private func withBuffers<Result>(of bio: OpaquePointer?, _ body: (TLSCiphertextBuffers) -> Result) -> Result {
  Unmanaged<TLSCiphertextBuffers>.fromOpaque(BIO_get_data(bio)!)._withUnsafeGuaranteedRef(body)
}

/// The method of ``TLSCiphertextBuffers``' BIOs, made once per process. `nonisolated(unsafe)`: OpenSSL only reads a
/// method once it is set up here, from any thread.
nonisolated(unsafe) private let ciphertextBIOMethod: OpaquePointer = {
  guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wisp ciphertext") else {
    fatalError("OpenSSL cannot make a BIO method: \(OpenSSLErrors.drainQueue())")
  }
  _ = BIO_meth_set_write(method) { bio, data, length in
    BIO_clear_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)
    guard let data, length > 0 else { return 0 }
    // Every record is taken: the carrier queues what the socket cannot take yet, so OpenSSL never waits to write.
    withBuffers(of: bio) { $0.output.append(contentsOf: UnsafeRawBufferPointer(start: data, count: Int(length))) }
    return length
  }
  _ = BIO_meth_set_read(method) { bio, data, length in
    BIO_clear_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)
    guard let data, length > 0 else { return 0 }
    let count = withBuffers(of: bio) { $0.read(into: data, count: Int(length)) }
    guard count > 0 else {
      // Nothing received yet: OpenSSL reports SSL_ERROR_WANT_READ (as a memory BIO's default), and the end of the
      // stream is the carrier's event, not the BIO's.
      BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)
      return -1
    }
    return Int32(count)
  }
  _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
    switch command {
    case BIO_CTRL_FLUSH: 1
    case BIO_CTRL_PENDING: withBuffers(of: bio) { $0.unreadCount }
    case BIO_CTRL_WPENDING: withBuffers(of: bio) { $0.output.count }
    default: 0
    }
  }
  return method
}()
