import CWispOpenSSL
import WispCommon

/// TLS over another transport: a transport in a transport, so nothing above it knows whether it runs over TLS.
///
/// OpenSSL works on a BIO of the library's own (``TLSCiphertextBuffers``): it reads the ciphertext the inner transport
/// pushed in place, and the records it makes are handed to the inner transport as they are. Plaintext is decrypted
/// into the loop's second shared buffer and handed to the reader in place, like a plain socket read (a large payload
/// in progress is decrypted straight into its frame's storage, as a socket reads one).
///
/// Once a session reads, TLS is a filter on the event loop (docs/decisions/0023): the ciphertext the socket pushes
/// goes into OpenSSL and the plaintext straight to the session's handler, in the same call; the session's output is
/// pulled by the socket at the end of the loop's turn through this transport's write source, which encrypts the
/// batch (several frames per record where they fit) and hands the records to the socket's own writer. No task reads
/// or writes.
///
/// Its state is confined to the loop (``loop``): the fields the read and write paths touch per record are not checked
/// for exclusive access at run time.
package final class TLSTransport: Transport, @unchecked Sendable {
  /// The transport that carries the ciphertext: a socket, or a TLS connection to a proxy.
  package let inner: any TLSCarrier
  /// The inner transport's loop, kept here: reading it through the existential `inner` costs a retain and a release,
  /// and the session asks for it (``isExecutorThread``) on every send and receive.
  package let loop: EventLoop
  private let ssl: OpaquePointer
  /// The ciphertext in and out of OpenSSL; its BIO refers to it unretained, and `deinit` frees the SSL object (and
  /// the BIO) before it.
  private let ciphertext = TLSCiphertextBuffers()
  private let host: String?
  @exclusivity(unchecked) fileprivate var closed = false
  @exclusivity(unchecked) private var receivedCloseNotify = false
  @exclusivity(unchecked) private var sentCloseNotify = false
  /// The session's handler (``startReading(_:directReader:)``); dropped at the end of the stream and on close.
  @exclusivity(unchecked) private var readHandler: (@Sendable (TransportReadEvent) -> Bool)?
  /// Asked before each `SSL_read` for a destination of the handler's own: a large payload in progress is decrypted
  /// straight into the frame's storage instead of through the loop's plaintext buffer (one copy fewer of every byte).
  @exclusivity(unchecked) private var directReader:
    (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  /// Whether the handler asked to stop until ``resumeReading()``.
  @exclusivity(unchecked) private var readingPaused = false
  /// Whether a job of the loop will hand over the plaintext OpenSSL holds (``scheduleDelivery()``).
  @exclusivity(unchecked) private var deliveryScheduled = false
  /// How the inner stream ended, while plaintext before it is still to be handed over.
  @exclusivity(unchecked) private var innerEnding: TransportReadEvent?
  /// The session's source of bytes to write (``setWriteSource(_:)``).
  @exclusivity(unchecked) private var writeSource: (@Sendable () -> [UInt8]?)?
  /// Why encrypting the session's output failed; reported by the next write.
  @exclusivity(unchecked) private var writeFailure: (any Error)?

  private init(inner: any TLSCarrier, context: TLSContext, host: String?) throws(TLSError) {
    guard let ssl = SSL_new(context.context) else {
      throw .handshakeFailed("cannot create the TLS session: \(OpenSSLErrors.drainQueue())")
    }
    guard let bio = ciphertext.makeBIO() else {
      SSL_free(ssl)
      throw .handshakeFailed("cannot create the TLS session's BIO: \(OpenSSLErrors.drainQueue())")
    }
    // One BIO for both directions: SSL_set_bio takes one reference for the pair, and SSL_free frees it.
    SSL_set_bio(ssl, bio, bio)
    self.inner = inner
    self.loop = inner.loop
    self.ssl = ssl
    self.host = host
  }

  deinit {
    SSL_free(ssl)
  }

  /// Runs the client handshake over `inner` and verifies the server: chain, host name (DNS or IP SAN) and pins.
  ///
  /// - Parameters:
  ///   - inner: the connection TLS runs over (a socket, or TLS to an `https://` proxy).
  ///   - host: the host of the URL; sent as SNI (unless an IP literal) and verified.
  ///   - context: the client settings (trust store, client certificate, pins, ALPN) as an OpenSSL context.
  /// - Throws: `TLSError` saying what failed: untrusted, expired, hostname mismatch, pin mismatch, timeout.
  package static func connect(
    over inner: any TLSCarrier, host: String, context: TLSContext
  ) async throws -> TLSTransport {
    guard case .client(let configuration) = context.role else {
      throw TLSError.invalidConfiguration("a client connection needs a client TLS context")
    }
    return try await connect(over: inner, host: host, configuration: configuration, context: context)
  }

  /// Runs the client handshake over `inner` with a context shared by several connections
  /// (``TLSClientContextCache``): this connection's fields of `configuration` (server name, host name check, pins,
  /// handshake time limit) apply to it alone.
  ///
  /// - Parameters:
  ///   - inner: the connection TLS runs over (a socket, or TLS to an `https://` proxy).
  ///   - host: the host of the URL; sent as SNI (unless an IP literal) and verified.
  ///   - configuration: this connection's settings; those the context holds must match it.
  ///   - context: an OpenSSL context built from `configuration`'s context settings.
  /// - Throws: `TLSError` saying what failed: untrusted, expired, hostname mismatch, pin mismatch, timeout.
  package static func connect(
    over inner: any TLSCarrier, host: String, configuration: TLSClientConfiguration, context: TLSContext
  ) async throws -> TLSTransport {
    guard case .client = context.role else {
      throw TLSError.invalidConfiguration("a client connection needs a client TLS context")
    }
    let name = configuration.serverName ?? host
    let transport = try TLSTransport(inner: inner, context: context, host: name)
    let ssl = transport.ssl
    SSL_set_connect_state(ssl)
    let isIPAddress = SocketAddress(ipLiteral: name, port: 0) != nil
    if !isIPAddress {
      _ = wisp_SSL_set_tlsext_host_name(ssl, name)
    }
    if configuration.verifiesCertificate && configuration.verifiesHostname {
      let ok =
        isIPAddress
        ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.trimmingBrackets) == 1
        : SSL_set1_host(ssl, name) == 1
      guard ok else { throw TLSError.invalidConfiguration("cannot verify host name \"\(name)\"") }
    }
    try await transport.handshake(timeout: configuration.handshakeTimeout)
    if !configuration.pinnedPublicKeySHA256.isEmpty {
      let actual = transport.peerPublicKeySHA256() ?? "none"
      guard configuration.pinnedPublicKeySHA256.contains(actual) else {
        await transport.close()
        throw TLSError.pinMismatch(actual: actual)
      }
    }
    return transport
  }

  /// Runs the server handshake over an accepted connection.
  package static func accept(over inner: SocketTransport, context: TLSContext) async throws -> TLSTransport {
    guard case .server(let configuration) = context.role else {
      throw TLSError.invalidConfiguration("an accepted connection needs a server TLS context")
    }
    let transport = try TLSTransport(inner: inner, context: context, host: nil)
    SSL_set_accept_state(transport.ssl)
    try await transport.handshake(timeout: configuration.handshakeTimeout)
    return transport
  }

  /// Drives `SSL_do_handshake` until it completes; a timer closes the inner transport when time runs out.
  private func handshake(timeout: Duration) async throws {
    loop.preconditionInEventLoop()
    var timedOut = false
    let timer = loop.schedule(after: timeout) { [inner] in
      timedOut = true
      inner.closeImmediately()
    }
    defer { loop.cancel(timer) }
    do {
      while true {
        OpenSSLErrors.clearQueue()
        let result = SSL_do_handshake(ssl)
        // Read the outcome before any await: OpenSSL's error queue is per thread, and other connections of this
        // loop run at every suspension.
        let error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result)
        let failure =
          error == SSL_ERROR_NONE || error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE
          ? nil : OpenSSLErrors.error(for: ssl, host: host)
        // Send what the handshake produced, including the alert that tells the peer why it failed.
        if let failure {
          try? await flushCiphertext()
          throw failure
        }
        try await flushCiphertext()
        if result == 1 { return }
        if error == SSL_ERROR_WANT_READ {
          guard try await readCiphertext() else {
            throw OpenSSLErrors.error(for: ssl, host: host)
          }
        }
      }
    } catch {
      if timedOut { throw TLSError.handshakeTimedOut(timeout) }
      await inner.close()
      throw error
    }
  }

  /// Reads ciphertext from the inner transport into OpenSSL; `false` at EOF.
  private func readCiphertext() async throws -> Bool {
    try await inner.read { [ciphertext] bytes in
      guard !bytes.isEmpty else { return false }
      ciphertext.keep(bytes)
      return true
    }
  }

  /// Writes whatever ciphertext OpenSSL has produced to the inner transport.
  private func flushCiphertext() async throws {
    guard let bytes = takeCiphertext() else { return }
    try await inner.write(bytes)
  }

  /// The ciphertext OpenSSL has produced, as it is; `nil` when there is none. Under 64 KiB the buffer is one of the
  /// loop's payload pool, offered again at once (the pool hands it out only once the socket has written it and let
  /// it go), so steady small traffic allocates none and no connection keeps one; a larger one is fresh (once written,
  /// the socket hands it to the large-buffer recycler, where the decoder takes it for a large payload).
  private func takeCiphertext() -> [UInt8]? {
    guard !ciphertext.output.isEmpty else { return nil }
    let bytes = ciphertext.output
    ciphertext.output = []
    if bytes.capacity < LargeBufferRecycler.minimumCapacity { loop.payloadPool.offer(bytes) }
    return bytes
  }

  /// Encrypts `bytes` into ``TLSCiphertextBuffers/output`` (records of at most 16 KiB; the BIO takes every record,
  /// so OpenSSL never asks to wait).
  private func encrypt(_ bytes: [UInt8]) throws {
    reserveCiphertext(forPlaintext: bytes.count)
    var offset = 0
    while offset < bytes.count {
      let chunk = min(bytes.count - offset, 1 << 20)
      OpenSSLErrors.clearQueue()
      let written = bytes.withUnsafeBytes { raw in SSL_write(ssl, raw.baseAddress! + offset, Int32(chunk)) }
      guard written > 0 else { throw OpenSSLErrors.error(for: ssl, host: host) }
      offset += Int(written)
    }
  }

  /// Makes room in the output for the records of `count` bytes of plaintext (each record of up to 16 KiB adds at most
  /// 5 bytes of header, a content type and a 16-byte tag; 64 bytes leave room for padding), so that appending the
  /// records copies each byte once: from the loop's payload pool under 64 KiB.
  private func reserveCiphertext(forPlaintext count: Int) {
    let needed = ciphertext.output.count + count + (count / 16_384 + 1) * 64
    guard ciphertext.output.capacity < needed else { return }
    if ciphertext.output.isEmpty, needed < LargeBufferRecycler.minimumCapacity,
      let spare = loop.payloadPool.take(minimumCapacity: needed)
    {
      ciphertext.output = spare
      return
    }
    ciphertext.output.reserveCapacity(needed)
  }

  /// The certificate the peer presented (a client certificate, on a server that asks for one), once the handshake
  /// is done.
  package var peerCertificate: PeerCertificate? {
    guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
    defer { X509_free(certificate) }
    guard let der = Self.der({ i2d_X509(certificate, $0) }) else { return nil }
    func oneLine(_ name: OpaquePointer?) -> String {
      guard let name, let text = X509_NAME_oneline(name, nil, 0) else { return "" }
      defer { CRYPTO_free(text, #file, #line) }
      return String(cString: text)
    }
    return PeerCertificate(
      der: der, subject: oneLine(X509_get_subject_name(certificate)), issuer: oneLine(X509_get_issuer_name(certificate))
    )
  }

  /// The bytes of an OpenSSL `i2d_*` encoder: `encode(nil)` gives the length, `encode(&cursor)` writes them.
  private static func der(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8]? {
    let length = encode(nil)
    guard length > 0 else { return nil }
    var der = [UInt8](repeating: 0, count: Int(length))
    der.withUnsafeMutableBufferPointer { buffer in
      var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
      _ = encode(&cursor)
    }
    return der
  }

  /// The protocol ALPN selected in the handshake (`"h2"`, `"http/1.1"`), `nil` when none was.
  package var negotiatedALPN: String? {
    var data: UnsafePointer<UInt8>?
    var length: UInt32 = 0
    SSL_get0_alpn_selected(ssl, &data, &length)
    guard let data, length > 0 else { return nil }
    return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
  }

  /// The base64 SHA-256 of the server certificate's SubjectPublicKeyInfo (the HPKP `pin-sha256` form).
  package func peerPublicKeySHA256() -> String? {
    guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
    defer { X509_free(certificate) }
    guard let publicKey = X509_get_X509_PUBKEY(certificate),
      let der = Self.der({ i2d_X509_PUBKEY(publicKey, $0) })
    else { return nil }
    var digest = [UInt8](repeating: 0, count: 32)
    var digestLength: UInt32 = 0
    guard EVP_Digest(der, der.count, &digest, &digestLength, EVP_sha256(), nil) == 1 else { return nil }
    return Base64.encode(digest.prefix(Int(digestLength)))
  }

  // MARK: Transport

  /// The inner transport's loop.
  package var executor: UnownedSerialExecutor { inner.executor }

  /// The inner socket's loop.
  package var taskExecutor: (any TaskExecutor)? { loop }

  /// Whether the caller runs on the loop's thread.
  package var isExecutorThread: Bool { loop.inEventLoop }

  /// The loop's timers: a session's close, ping and grace deadlines wake on the loop's thread.
  package var sessionClock: (any SessionClock)? { loop }

  /// The loop's spare payload buffers, shared by the sessions on it.
  package var payloadPool: PayloadBufferPool? { loop.payloadPool }

  /// The peer's address, marked as TLS.
  package var peerDescription: String { "\(inner.peerDescription) (TLS)" }

  /// Decrypts what has arrived (waiting for ciphertext when needed) and hands the plaintext to `body`.
  package nonisolated(nonsending) func read<Result>(
    _ body: (UnsafeRawBufferPointer) throws -> Result
  ) async throws -> Result {
    let buffer = loop.plaintextBuffer
    while true {
      guard !closed else { throw TransportError.closed }
      if receivedCloseNotify { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
      OpenSSLErrors.clearQueue()
      let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
      if count > 0 {
        // The body runs before any await: the buffer is the loop's, and other connections use it at every
        // suspension.
        let result = try body(UnsafeRawBufferPointer(rebasing: buffer[0..<Int(count)]))
        // TLS 1.3 post-handshake messages (KeyUpdate) may need an answer.
        try await flushCiphertext()
        return result
      }
      let error = SSL_get_error(ssl, count)
      switch error {
      case SSL_ERROR_WANT_READ:
        try await flushCiphertext()
        if try await !readCiphertext() {
          // EOF without close_notify: the WebSocket close handshake, not TLS, guards message integrity.
          return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
      case SSL_ERROR_WANT_WRITE:
        try await flushCiphertext()
      case SSL_ERROR_ZERO_RETURN:
        receivedCloseNotify = true
      default:
        throw OpenSSLErrors.error(for: ssl, host: host)
      }
    }
  }

  /// Encrypts `bytes` and writes the records.
  package nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
    if let writeFailure { throw writeFailure }
    guard !closed, !sentCloseNotify else { throw TransportError.closed }
    try encrypt(bytes)
    try await flushCiphertext()
  }

  // MARK: The session's path: a filter on the loop

  /// Hands the plaintext of what the socket pushes to `handler`, in the loop's plaintext buffer, in the same call;
  /// while `directReader` takes it (a large payload in progress), `SSL_read` decrypts into the payload's storage.
  package func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  ) {
    loop.preconditionInEventLoop()
    guard !closed else { return }
    readHandler = handler
    self.directReader = directReader
    readingPaused = false
    installInnerWriteSource()
    inner.startReading({ [self] event in self.ciphertextArrived(event) }, directReader: nil)
    // Records that arrived with the handshake's last flight wait in OpenSSL: handed over on a later turn.
    scheduleDelivery()
  }

  /// Goes on after the handler returned `false`: first what OpenSSL holds (on a later turn), then the socket.
  package func resumeReading() {
    loop.preconditionInEventLoop()
    guard readingPaused else { return }
    readingPaused = false
    scheduleDelivery()
  }

  /// Hands the handler now what OpenSSL holds, then what the socket holds, as a readable edge would
  /// (``CatchingUpTransport``: a session reads what has arrived before it times a keepalive ping out). Nothing while
  /// reading is paused, not started or over. Loop thread only.
  package func deliverWhatHasArrived() {
    guard loop.inEventLoop, readHandler != nil, !readingPaused, !closed else { return }
    // When OpenSSL needs more ciphertext, the socket's catch-up pushes it through `ciphertextArrived`: decrypted and
    // handed over in the same call.
    guard deliverPlaintext() else { return }
    inner.deliverWhatHasArrived()
  }

  /// Installs the session's source; the socket pulls ciphertext from this transport, which pulls plaintext from it.
  package func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?) {
    loop.preconditionInEventLoop()
    guard !closed else { return }
    writeSource = source
    installInnerWriteSource()
  }

  /// Has the socket pull (and this transport encrypt) the session's output at the end of the loop's turn.
  package func requestWrite() {
    inner.requestWrite()
  }

  /// Bytes of ciphertext the socket has not written yet.
  package var queuedOutputCount: Int { inner.queuedOutputCount }

  /// Writes, waiting for the socket, until less than `limit` bytes of ciphertext are queued.
  package nonisolated(nonsending) func waitForQueuedOutput(below limit: Int) async throws {
    try await inner.waitForQueuedOutput(below: limit)
  }

  private func installInnerWriteSource() {
    inner.setWriteSource { [self] in self.pullCiphertext() }
  }

  /// The socket's write source: encrypts the session's output as it hands it over (its batch, in order) and returns
  /// the records, with anything else OpenSSL produced (a KeyUpdate's answer) in their place in the stream.
  private func pullCiphertext() -> [UInt8]? {
    if let writeSource, writeFailure == nil, !sentCloseNotify, !closed {
      while let plaintext = writeSource() {
        do {
          try encrypt(plaintext)
        } catch {
          // Nothing more can be sent: the session learns it from the reader, as from a reset.
          writeFailure = error
          inner.closeImmediately()
          break
        }
      }
    }
    return takeCiphertext()
  }

  /// What the socket pushed: ciphertext into OpenSSL, plaintext out to the handler. Returns whether the socket should
  /// keep reading.
  private func ciphertextArrived(_ event: TransportReadEvent) -> Bool {
    switch event {
    case .bytes(let ciphertext):
      // OpenSSL reads the records in place; what it leaves (a session that paused) is kept before the socket reuses
      // its buffer.
      self.ciphertext.pushed = ciphertext
      let keepReading = deliverPlaintext()
      self.ciphertext.keepUnreadPush()
      return keepReading
    case .endOfStream, .failed:
      // The plaintext of the records before the end goes first.
      innerEnding = event
      _ = deliverPlaintext()
      return false
    }
  }

  /// Decrypts what OpenSSL holds into the loop's plaintext buffer and hands each piece to the handler, until OpenSSL
  /// needs more ciphertext (returns `true`: the socket reads on), the handler pauses, or the stream ends.
  private func deliverPlaintext() -> Bool {
    let buffer = loop.plaintextBuffer
    // Once per delivery: a successful SSL_read adds nothing to the queue, and the handler (the session's frame
    // decoder) does not call OpenSSL.
    OpenSSLErrors.clearQueue()
    while let handler = readHandler, !readingPaused, !closed {
      // A large payload in progress: decrypted into its storage, and the handler told that the decoder progressed
      // (an empty push). Everything else: through the loop's buffer.
      var direct: Int32 = 0
      let count: Int32
      let delivered: UnsafeRawBufferPointer
      if directReader?({ destination in
        direct = SSL_read(ssl, destination.baseAddress, Int32(clamping: destination.count))
        return Int(direct)
      }) != nil {
        count = direct
        delivered = UnsafeRawBufferPointer(start: nil, count: 0)
      } else {
        count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
        delivered = UnsafeRawBufferPointer(rebasing: buffer[0..<max(0, Int(count))])
      }
      if count > 0 {
        if !handler(.bytes(delivered)) { readingPaused = true }
        continue
      }
      switch SSL_get_error(ssl, count) {
      case SSL_ERROR_WANT_READ:
        // TLS 1.3 post-handshake messages (KeyUpdate) may need an answer.
        if !ciphertext.output.isEmpty { inner.requestWrite() }
        guard let ending = innerEnding else { return true }
        // EOF without close_notify: the WebSocket close handshake, not TLS, guards message integrity.
        finishReading(ending)
        return false
      case SSL_ERROR_ZERO_RETURN:
        receivedCloseNotify = true
        finishReading(.endOfStream)
        return false
      default:
        finishReading(.failed(OpenSSLErrors.error(for: ssl, host: host)))
        return false
      }
    }
    if !ciphertext.output.isEmpty { inner.requestWrite() }
    return false
  }

  /// Hands the last event to the handler and drops it.
  private func finishReading(_ event: TransportReadEvent) {
    let handler = readHandler
    readHandler = nil
    directReader = nil
    _ = handler?(event)
  }

  /// Hands over what OpenSSL holds on a later turn of the loop, then lets the socket read on.
  private func scheduleDelivery() {
    guard !deliveryScheduled else { return }
    deliveryScheduled = true
    loop.execute { [self] in
      deliveryScheduled = false
      if deliverPlaintext() { inner.resumeReading() }
    }
  }

  /// Waits until the ciphertext of everything written is handed to the socket.
  package nonisolated(nonsending) func flush() async throws {
    try await inner.flush()
  }

  /// Sends close_notify, then half-closes the inner transport.
  package nonisolated(nonsending) func shutdownOutput() async throws {
    guard !closed else { return }
    try await sendCloseNotify()
    try await inner.shutdownOutput()
  }

  private func sendCloseNotify() async throws {
    guard !sentCloseNotify else { return }
    sentCloseNotify = true
    OpenSSLErrors.clearQueue()
    _ = SSL_shutdown(ssl)
    try await flushCiphertext()
  }

  /// Sends close_notify (best effort) and closes the inner transport.
  package func close() async {
    if loop.inEventLoop {
      await closeOnLoop()
    } else {
      await withTaskExecutorPreference(loop) { await self.closeOnLoopConcurrently() }
    }
  }

  /// `closeOnLoop` off any caller's actor, so that the task's executor preference (the loop) applies.
  @concurrent private func closeOnLoopConcurrently() async {
    await closeOnLoop()
  }

  private func closeOnLoop() async {
    guard !closed else { return }
    try? await sendCloseNotify()
    closed = true
    dropSessionCallbacks()
    await inner.close()
  }

  /// Drops the session's handler and source (they reference the session, which references this transport).
  private func dropSessionCallbacks() {
    readHandler = nil
    directReader = nil
    writeSource = nil
  }
}

extension TLSTransport: TLSCarrier {
  /// Closes the connection underneath at once (no close_notify); loop thread only.
  package func closeImmediately() {
    closed = true
    dropSessionCallbacks()
    inner.closeImmediately()
  }
}

extension String {
  /// The text without surrounding `[` `]` (IPv6 literals in URLs).
  var trimmingBrackets: String {
    hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
  }
}

extension TLSTransport: PayloadPoolProviding {}
