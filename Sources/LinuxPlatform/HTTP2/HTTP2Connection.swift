import CWispNghttp2
import WispCommon

/// One HTTP/2 connection (RFC 9113) on nghttp2, either role, a filter on its carrier's push path like TLS: what the
/// carrier (a socket, or TLS over it) pushes goes into `nghttp2_session_mem_recv`, whose callbacks collect each
/// stream's HEADERS and hand its DATA to the stream's session in place; at the end of the loop's turn the carrier
/// pulls `nghttp2_session_mem_send`'s frames through this connection's write source, after moving each stream's
/// output into its queue. nghttp2 does HPACK, framing, flow control, SETTINGS and the protocol's checks; this class is
/// the glue (docs/decisions/0027).
///
/// As a server, a request (its HEADERS complete) is handed to `onRequest`, which runs the application server's
/// handshake on an ``HTTP2StreamExchange``: an extended CONNECT (RFC 8441) becomes a WebSocket on the stream, a GET
/// a plain answer. As a client, ``openWebSocket(_:timeout:)`` sends an extended CONNECT and returns the stream with
/// the response; several sessions to one origin share the connection (``HTTP2ClientPool``).
///
/// Confined to the carrier's event loop.
package final class HTTP2Connection: @unchecked Sendable {
  /// Which side of the connection this is.
  enum Role {
    /// Accepts streams; `onRequest` runs each request's handshake.
    case server(onRequest: @Sendable (HTTP2Stream) -> Void)
    /// Opens streams.
    case client
  }
  /// What carries the connection's bytes: the socket, or TLS over it.
  package let carrier: any TLSCarrier
  /// The carrier's loop; every stream of the connection is served there.
  let loop: EventLoop
  private let configuration: HTTP2Configuration
  private let limits: HTTPHeadLimits
  private var session: OpaquePointer?
  private var streams: [Int32: HTTP2Stream] = [:]
  /// The streams open when the connection ended, whose queued output the last frames may still carry.
  private var endedStreams: [Int32: HTTP2Stream] = [:]
  /// Streams whose output changed since the last write (their source to pull, or deferred DATA to resume).
  private var outputChanged: [HTTP2Stream] = []
  private let role: Role
  /// Whether the peer's first SETTINGS frame has arrived, and the callers waiting for it (a client waits before its
  /// first extended CONNECT: the server must have enabled it, RFC 8441 section 3).
  private var settingsArrived = false
  private var settingsWaiters: [CheckedContinuation<Void, Never>] = []
  private var finished = false
  private var finishWaiter: CheckedContinuation<Void, Never>?
  private var idleTimer: TimerHandle?
  private var lingerTimers: [Int32: TimerHandle] = [:]
  /// Streams whose request HEADERS have begun and not ended, with the timer that ends the connection if they never
  /// do: while a header block is incomplete no other frame may arrive (RFC 9113 section 6.10), so a peer that stops
  /// in the middle of one holds the whole connection.
  private var requestTimers: [Int32: TimerHandle] = [:]
  private let requestTimeout: Duration
  private var goingAway = false
  /// Why the connection ended, when it failed (for the log).
  private(set) var failure: String?
  /// Whether ``run(initial:firstRequestTimeout:)`` has sent nghttp2's last frames.
  private var tailFlushed = false

  /// How long a stream whose session has ended waits for the peer's END_STREAM before it is reset (CANCEL): 2 s.
  static let closeLinger: Duration = .seconds(2)

  /// Creates a server connection and queues its SETTINGS.
  ///
  /// - Parameters:
  ///   - carrier: the socket or TLS connection, its handshake done.
  ///   - configuration: windows, streams, timeouts.
  ///   - limits: the request's bounds (the fields of a request's HEADERS, as an HTTP/1.1 head's).
  ///   - requestTimeout: the time the client has for its preface and first request, and for each request's header
  ///     block once begun (the server's handshake timeout).
  ///   - offersWebSockets: whether to send `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`.
  ///   - onRequest: called on the loop for each stream whose request HEADERS are complete.
  package convenience init(
    carrier: any TLSCarrier, configuration: HTTP2Configuration, limits: HTTPHeadLimits, requestTimeout: Duration,
    offersWebSockets: Bool, onRequest: @escaping @Sendable (HTTP2Stream) -> Void
  ) throws(TransportError) {
    try self.init(
      carrier: carrier, role: .server(onRequest: onRequest), configuration: configuration, limits: limits,
      requestTimeout: requestTimeout, offersWebSockets: offersWebSockets)
  }

  /// Creates a client connection (nghttp2 sends the preface) and queues its SETTINGS.
  ///
  /// - Parameters:
  ///   - carrier: the TLS connection whose ALPN selected `h2`.
  ///   - configuration: windows and the idle timeout.
  ///   - limits: the bounds of a response's fields.
  ///   - responseTimeout: the time the server has for its SETTINGS and for each response.
  package convenience init(
    clientOver carrier: any TLSCarrier, configuration: HTTP2Configuration, limits: HTTPHeadLimits,
    responseTimeout: Duration
  ) throws(TransportError) {
    try self.init(
      carrier: carrier, role: .client, configuration: configuration, limits: limits, requestTimeout: responseTimeout,
      offersWebSockets: false)
  }

  private init(
    carrier: any TLSCarrier, role: Role, configuration: HTTP2Configuration, limits: HTTPHeadLimits,
    requestTimeout: Duration, offersWebSockets: Bool
  ) throws(TransportError) {
    self.carrier = carrier
    self.loop = carrier.loop
    self.configuration = configuration
    self.limits = limits
    self.requestTimeout = requestTimeout
    self.role = role
    var callbacks: OpaquePointer?
    guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
      throw .system(operation: "nghttp2_session_callbacks_new", errno: 12, message: "out of memory")
    }
    defer { nghttp2_session_callbacks_del(callbacks) }
    Self.install(callbacks)
    var option: OpaquePointer?
    guard nghttp2_option_new(&option) == 0, let option else {
      throw .system(operation: "nghttp2_option_new", errno: 12, message: "out of memory")
    }
    defer { nghttp2_option_del(option) }
    // The session opens a stream's window only for what its WebSocket took (HTTP2Stream), so that a handler that
    // does not read stops its peer instead of buffering without bound.
    nghttp2_option_set_no_auto_window_update(option, 1)
    // Flood bounds (RFC 9113 section 10.5): SETTINGS entries per frame, queued control-frame answers, and the rate
    // of the peer's stream resets (CVE-2023-44487).
    nghttp2_option_set_max_settings(option, 32)
    nghttp2_option_set_max_outbound_ack(option, 1000)
    nghttp2_option_set_stream_reset_rate_limit(option, 1000, 33)
    var session: OpaquePointer?
    let rc: Int32
    switch role {
    case .server: rc = nghttp2_session_server_new2(&session, callbacks, nil, option)
    case .client: rc = nghttp2_session_client_new2(&session, callbacks, nil, option)
    }
    guard rc == 0, let session else {
      throw .system(operation: "nghttp2_session_new", errno: 12, message: Self.text(rc))
    }
    self.session = session
    nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())
    var settings: [nghttp2_settings_entry] = [
      .init(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
        value: UInt32(clamping: configuration.maxConcurrentStreams)),
      .init(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
        value: UInt32(clamping: min(configuration.streamWindow, Int(Int32.max)))),
      .init(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
        value: UInt32(clamping: limits.maxHeadSize)),
    ]
    if offersWebSockets {
      settings.append(.init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1))
    }
    nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), settings, settings.count)
    nghttp2_session_set_local_window_size(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: configuration.connectionWindow))
  }

  deinit {
    if let session { nghttp2_session_del(session) }
  }

  /// Serves the connection until it ends (both sides done, GOAWAY completed, the idle timeout, an error, or the
  /// task's cancellation), then closes the carrier. `initial` holds bytes already read from the carrier (the
  /// preface, for h2c).
  package func run(initial: [UInt8] = []) async {
    loop.preconditionInEventLoop()
    carrier.setWriteSource { [self] in self.pullOutput() }
    if !initial.isEmpty {
      initial.withUnsafeBytes { receive($0) }
    }
    if !finished {
      carrier.startReading({ [self] event in self.carrierPushed(event) }, directReader: nil)
      carrier.requestWrite()
      if case .server = role {
        armIdleTimer(requestTimeout)
      } else {
        armIdleTimer(configuration.idleTimeout)
      }
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        if finished { continuation.resume() } else { finishWaiter = continuation }
      }
    } onCancel: {
      loop.execute { [self] in finishGracefully() }
    }
    // What nghttp2 still has to say (the streams' last DATA, a GOAWAY) goes out before the carrier closes.
    if let session, !tailFlushed {
      tailFlushed = true
      var tail: [UInt8] = []
      while true {
        var data: UnsafePointer<UInt8>?
        let count = nghttp2_session_mem_send(session, &data)
        guard count > 0, let data else { break }
        tail.append(contentsOf: UnsafeBufferPointer(start: data, count: count))
        if tail.count > 1 << 20 { break }
      }
      if !tail.isEmpty { try? await carrier.write(tail) }
    }
    endedStreams.removeAll()
    await carrier.close()
  }

  /// Ends the connection at once but without losing what is queued (the server stops): the streams' output is
  /// framed, a GOAWAY follows it, and ``run(initial:)`` writes both before it closes the carrier.
  private func finishGracefully() {
    guard let session, !finished else { return }
    prepareOutput(session)
    nghttp2_submit_goaway(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
      UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
    finish(nil)
  }

  /// Graceful shutdown: new streams are refused (REFUSED_STREAM, RFC 9113 section 8.7: "not processed"); the
  /// streams open now go on until their sessions end (the server closes them with 1001); then GOAWAY with the last
  /// stream processed (RFC 9113 section 6.8) and the connection closes. The GOAWAY goes last, not first: some
  /// clients (Python's h2) take a GOAWAY as the end of every stream and would lose the sessions' close frames.
  package func goAway() {
    loop.execute { [self] in
      guard !finished, !goingAway else { return }
      goingAway = true
      if streams.isEmpty { armIdleTimer(.zero) }
    }
  }

  /// Streams open now.
  package var openStreamCount: Int { streams.count }

  // MARK: The client's streams

  /// Whether a client may open another stream here: the connection is up, no GOAWAY, the server's
  /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` is 1, and its stream limit and the client's (`limit`) leave room.
  func acceptsWebSockets(limit: Int? = nil) -> Bool {
    guard let session, !finished, !goingAway, enablesExtendedConnect else { return false }
    let serverLimit = Int(nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
    return streams.count < min(serverLimit, limit ?? Int.max)
  }

  /// Whether the server's SETTINGS enable extended CONNECT (RFC 8441 section 3).
  var enablesExtendedConnect: Bool {
    guard let session, settingsArrived else { return false }
    return nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1
  }

  /// Waits (at most `timeout`) for the server's first SETTINGS; returns whether a stream may be opened
  /// (``acceptsWebSockets(limit:)``; RFC 8441 section 3: "a client MUST NOT send" an extended CONNECT before it has
  /// seen the setting).
  func waitForSettings(timeout: Duration, limit: Int?) async -> Bool {
    if !settingsArrived, !finished {
      let timer = loop.schedule(after: timeout) { [self] in
        let waiters = settingsWaiters
        settingsWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
      }
      await withCheckedContinuation { settingsWaiters.append($0) }
      loop.cancel(timer)
    }
    return acceptsWebSockets(limit: limit)
  }

  /// Opens a stream with `request` (an extended CONNECT: method, `:protocol`, `:path`, `:authority` from `Host`,
  /// the WebSocket fields) and waits (at most `timeout`) for the response. The stream then carries the WebSocket
  /// when the response is a 2xx; otherwise the caller closes it.
  ///
  /// - Throws: ``TransportError`` when the stream cannot be opened, is reset, or no response comes in time.
  func openWebSocket(_ request: HTTPRequestHead, timeout: Duration) async throws -> (HTTP2Stream, HTTPResponseHead) {
    guard let session, acceptsWebSockets() else { throw TransportError.connectionReset }
    var fields: [(String, String)] = [
      (":method", request.method), (":protocol", "websocket"), (":scheme", "https"), (":path", request.target),
      (":authority", request.headers["Host"] ?? ""),
    ]
    for field in request.headers where !Self.isConnectionSpecific(field.name) && field.name.lowercased() != "host" {
      fields.append((field.name.lowercased(), field.value))
    }
    var id: Int32 = -1
    Self.withNameValues(fields) { nva in
      var provider = nghttp2_data_provider()
      provider.read_callback = Self.readData
      id = nghttp2_submit_request(session, nil, nva.baseAddress, nva.count, &provider, nil)
    }
    guard id > 0 else {
      throw TransportError.system(operation: "nghttp2_submit_request", errno: 0, message: Self.text(id))
    }
    if let idleTimer {
      loop.cancel(idleTimer)
      self.idleTimer = nil
    }
    let stream = HTTP2Stream(connection: self, id: id)
    stream.providesData = true
    streams[id] = stream
    carrier.requestWrite()
    let timer = loop.schedule(after: timeout) { [self] in
      stream.responseFailed(TransportError.timedOut(operation: "the extended CONNECT", limit: timeout))
      reset(id, code: NGHTTP2_CANCEL)
    }
    defer { loop.cancel(timer) }
    let response = try await stream.waitForResponse()
    return (stream, response)
  }

  // MARK: Input

  private func carrierPushed(_ event: TransportReadEvent) -> Bool {
    switch event {
    case .bytes(let bytes):
      receive(bytes)
      return !finished
    case .endOfStream:
      finish(nil)
      return false
    case .failed(let error):
      finish("\(error)")
      return false
    }
  }

  /// Feeds nghttp2; its callbacks run inside. Afterwards, what it wants to send goes out at the end of the turn.
  private func receive(_ bytes: UnsafeRawBufferPointer) {
    guard let session, !finished, let base = bytes.baseAddress else { return }
    let consumed = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    if consumed < 0 {
      // A fatal error (the client's preface was wrong, a flood, a callback's failure): GOAWAY when the session can
      // still say it, then the end.
      nghttp2_session_terminate_session(session, UInt32(NGHTTP2_PROTOCOL_ERROR.rawValue))
      finish("HTTP/2: \(Self.text(Int32(consumed)))")
      return
    }
    afterProgress()
  }

  /// Requests a write when nghttp2 has frames to send; ends the connection when it wants neither to read nor write
  /// (after a GOAWAY it sent or received, once the streams are done).
  private func afterProgress() {
    guard let session, !finished else { return }
    if nghttp2_session_want_write(session) != 0 || !outputChanged.isEmpty {
      carrier.requestWrite()
    } else if nghttp2_session_want_read(session) == 0 {
      finish(nil)
    }
  }

  // MARK: Output

  /// A stream has bytes to send, its source to pull, or its end to send: handled in the carrier's next pull.
  func outputReady(_ stream: HTTP2Stream) {
    guard !finished else { return }
    if !stream.awaitsOutputTurn {
      stream.awaitsOutputTurn = true
      outputChanged.append(stream)
    }
    carrier.requestWrite()
  }

  /// The carrier's write source: the streams' output moved into their queues, then nghttp2's frames, up to 64 KiB
  /// per piece.
  private func pullOutput() -> [UInt8]? {
    guard let session, !finished else { return nil }
    prepareOutput(session)
    var output: [UInt8] = []
    while output.count < 64 * 1024 {
      var data: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(session, &data)
      if count < 0 {
        finish("HTTP/2: \(Self.text(Int32(count)))")
        return nil
      }
      guard count > 0, let data else { break }
      if output.isEmpty { output.reserveCapacity(max(count, 1024)) }
      output.append(contentsOf: UnsafeBufferPointer(start: data, count: count))
    }
    if output.isEmpty {
      if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
        loop.execute { [self] in finish(nil) }
      }
      return nil
    }
    return output
  }

  /// Moves the output of the streams that changed into their queues, and has nghttp2 take up the DATA it deferred.
  private func prepareOutput(_ session: OpaquePointer) {
    guard !outputChanged.isEmpty else { return }
    let changed = outputChanged
    outputChanged.removeAll(keepingCapacity: true)
    for stream in changed {
      stream.awaitsOutputTurn = false
      guard !stream.isClosed else { continue }
      if stream.wantsPull { stream.pullSource() }
      if stream.providesData, stream.dataDeferred, stream.pendingCount > 0 || stream.outputEnded {
        stream.dataDeferred = false
        nghttp2_session_resume_data(session, stream.id)
      }
    }
  }

  // MARK: Streams

  /// The session took `count` bytes of `stream`'s DATA: its window opens by as much.
  func consumed(_ count: Int, on stream: HTTP2Stream) {
    guard let session, !finished, count > 0, !stream.isClosed else { return }
    nghttp2_session_consume_stream(session, stream.id, count)
    carrier.requestWrite()
  }

  /// The session closed its transport: END_STREAM goes out after its output; a peer that does not end its side
  /// within ``closeLinger`` is reset (CANCEL).
  func streamReleased(_ stream: HTTP2Stream) {
    guard let session, !finished, !stream.isClosed else { return }
    if nghttp2_session_get_stream_remote_close(session, stream.id) == 0, lingerTimers[stream.id] == nil {
      let id = stream.id
      lingerTimers[id] = loop.schedule(after: Self.closeLinger) { [self] in
        lingerTimers[id] = nil
        reset(id, code: NGHTTP2_CANCEL)
      }
    }
  }

  /// Resets `stream` with CANCEL: its request was abandoned.
  func cancel(_ stream: HTTP2Stream) {
    reset(stream.id, code: NGHTTP2_CANCEL)
  }

  /// Resets stream `id` with `code`.
  func reset(_ id: Int32, code: nghttp2_error_code) {
    guard let session, !finished, streams[id] != nil else { return }
    nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, UInt32(code.rawValue))
    carrier.requestWrite()
  }

  /// Answers `stream` with `response` and ends it; the peer's side, if still open, is reset with NO_ERROR once the
  /// answer is out (RFC 9113 section 8.1).
  func respond(_ stream: HTTP2Stream, status: Int, headers: HTTPHeaders, body: [UInt8]) {
    guard let session, !finished, !stream.isClosed else { return }
    var fields = headers
    fields.set(name: "content-length", value: String(body.count))
    stream.resetAfterEnd = true
    if body.isEmpty {
      submitResponse(session, stream: stream, status: status, headers: fields, withData: false)
    } else {
      stream.queueFinal(body)
      submitResponse(session, stream: stream, status: status, headers: fields, withData: true)
    }
    carrier.requestWrite()
  }

  /// Accepts the stream's WebSocket with `status` (200) and `headers`: the stream stays open and carries DATA.
  func accept(_ stream: HTTP2Stream, status: Int, headers: HTTPHeaders) throws(TransportError) {
    guard let session, !finished, !stream.isClosed else { throw .connectionReset }
    submitResponse(session, stream: stream, status: status, headers: headers, withData: true)
    carrier.requestWrite()
  }

  private func submitResponse(
    _ session: OpaquePointer, stream: HTTP2Stream, status: Int, headers: HTTPHeaders, withData: Bool
  ) {
    var fields: [(String, String)] = [(":status", String(status))]
    for field in headers where !Self.isConnectionSpecific(field.name) {
      fields.append((field.name.lowercased(), field.value))
    }
    stream.providesData = withData
    Self.withNameValues(fields) { nva in
      if withData {
        var provider = nghttp2_data_provider()
        provider.read_callback = Self.readData
        _ = nghttp2_submit_response(session, stream.id, nva.baseAddress, nva.count, &provider)
      } else {
        _ = nghttp2_submit_response(session, stream.id, nva.baseAddress, nva.count, nil)
      }
    }
  }

  /// Fields HTTP/2 forbids (RFC 9113 section 8.2.2); an application's header of that name is dropped.
  static func isConnectionSpecific(_ name: String) -> Bool {
    switch name.lowercased() {
    case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade": true
    default: false
    }
  }

  /// The fields as nghttp2's name-value pairs, valid during `body` (nghttp2 copies them).
  private static func withNameValues(_ fields: [(String, String)], _ body: (UnsafeBufferPointer<nghttp2_nv>) -> Void) {
    var storage: [UInt8] = []
    var ranges: [(Int, Int, Int, Int)] = []
    for (name, value) in fields {
      let nameStart = storage.count
      storage.append(contentsOf: name.utf8)
      let valueStart = storage.count
      storage.append(contentsOf: value.utf8)
      ranges.append((nameStart, valueStart - nameStart, valueStart, storage.count - valueStart))
    }
    storage.append(0)
    storage.withUnsafeMutableBufferPointer { bytes in
      let base = bytes.baseAddress!
      let nva = ranges.map { range in
        nghttp2_nv(
          name: base + range.0, value: base + range.2, namelen: range.1, valuelen: range.3,
          flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
      }
      nva.withUnsafeBufferPointer(body)
    }
  }

  /// After `timeout` without streams: GOAWAY (once) and the end.
  private func armIdleTimer(_ timeout: Duration) {
    if let idleTimer { loop.cancel(idleTimer) }
    idleTimer = loop.schedule(after: timeout) { [self] in
      idleTimer = nil
      guard streams.isEmpty, let session, !finished else { return }
      goingAway = true
      nghttp2_submit_goaway(
        session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
        UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
      finish(nil)
    }
  }

  /// Ends the connection (once): every stream ends (reset, for sessions still open), the carrier closes after
  /// what nghttp2 still has to send.
  private func finish(_ error: String?) {
    guard !finished else { return }
    finished = true
    failure = error
    if let idleTimer { loop.cancel(idleTimer) }
    idleTimer = nil
    for timer in lingerTimers.values { loop.cancel(timer) }
    lingerTimers.removeAll()
    for timer in requestTimers.values { loop.cancel(timer) }
    requestTimers.removeAll()
    // The streams stay reachable by nghttp2's data provider until run() has written its last frames.
    endedStreams = streams
    streams.removeAll()
    outputChanged.removeAll()
    for stream in endedStreams.values { stream.streamClosed(reset: true) }
    let waiters = settingsWaiters
    settingsWaiters.removeAll()
    for waiter in waiters { waiter.resume() }
    if let waiter = finishWaiter {
      finishWaiter = nil
      waiter.resume()
    }
  }

  // MARK: nghttp2's callbacks

  private static func connection(_ userData: UnsafeMutableRawPointer?) -> HTTP2Connection {
    Unmanaged<HTTP2Connection>.fromOpaque(userData!).takeUnretainedValue()
  }

  private static func text(_ code: Int32) -> String {
    String(cString: nghttp2_strerror(code))
  }

  private static func install(_ callbacks: OpaquePointer) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
      guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
        frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
      else { return 0 }
      return HTTP2Connection.connection(userData).beginRequest(frame.pointee.hd.stream_id)
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks) {
      _, frame, name, nameLength, value, valueLength, _, userData in
      guard let frame, let name, let value, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
      HTTP2Connection.connection(userData).header(
        frame.pointee.hd.stream_id,
        name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
        value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
      return 0
    }
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
      guard let frame else { return 0 }
      HTTP2Connection.connection(userData).frameReceived(frame.pointee)
      return 0
    }
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
      HTTP2Connection.connection(userData).dataReceived(streamID, UnsafeRawBufferPointer(start: data, count: length))
      return 0
    }
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
      guard let frame else { return 0 }
      HTTP2Connection.connection(userData).frameSent(frame.pointee)
      return 0
    }
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
      HTTP2Connection.connection(userData).streamClosed(streamID, errorCode: errorCode)
      return 0
    }
  }

  /// The data provider of a stream's response: its pending bytes, deferred while there are none.
  private static let readData: nghttp2_data_source_read_callback = {
    _, streamID, buffer, length, flags, _, userData in
    guard let buffer, let flags else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
    let connection = HTTP2Connection.connection(userData)
    guard let stream = connection.streams[streamID] ?? connection.endedStreams[streamID] else {
      return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    }
    var eof = false
    guard let count = stream.provide(into: buffer, length: length, eof: &eof) else {
      return Int(NGHTTP2_ERR_DEFERRED.rawValue)
    }
    if eof { flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) }
    return count
  }

  private func beginRequest(_ id: Int32) -> Int32 {
    guard case .server = role else { return 0 }
    if let idleTimer {
      loop.cancel(idleTimer)
      self.idleTimer = nil
    }
    streams[id] = HTTP2Stream(connection: self, id: id)
    requestTimers[id] = loop.schedule(after: requestTimeout) { [self] in
      requestTimers[id] = nil
      guard let session, !finished else { return }
      nghttp2_session_terminate_session(session, UInt32(NGHTTP2_PROTOCOL_ERROR.rawValue))
      finish("HTTP/2: the request's header block on stream \(id) did not end within \(requestTimeout)")
    }
    return 0
  }

  private func header(_ id: Int32, name: String, value: String) {
    streams[id]?.headerBlock.add(name: name, value: value, limits: limits)
  }

  private func frameReceived(_ frame: nghttp2_frame) {
    let id = frame.hd.stream_id
    if id == 0 {
      connectionFrameReceived(frame)
      return
    }
    guard let stream = streams[id] else { return }
    let endsStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    if frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.headers.cat == NGHTTP2_HCAT_REQUEST,
      case .server(let onRequest) = role
    {
      if let timer = requestTimers.removeValue(forKey: id) { loop.cancel(timer) }
      if endsStream { stream.remoteEnded(.endOfStream) }
      if goingAway {
        reset(id, code: NGHTTP2_REFUSED_STREAM)
        return
      }
      onRequest(stream)
      return
    }
    if frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.headers.cat == NGHTTP2_HCAT_RESPONSE {
      // A final response (1xx are informational: the block starts again).
      if let status = stream.headerBlock.status, status >= 200 {
        stream.responseArrived()
      } else {
        stream.headerBlock = HTTP2HeaderBlock()
      }
    }
    if endsStream, frame.hd.type == UInt8(NGHTTP2_DATA.rawValue) || frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) {
      stream.remoteEnded(.endOfStream)
    }
  }

  /// SETTINGS (the first one unblocks a client's extended CONNECT) and GOAWAY (no new streams here).
  private func connectionFrameReceived(_ frame: nghttp2_frame) {
    if frame.hd.type == UInt8(NGHTTP2_SETTINGS.rawValue), frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0,
      !settingsArrived
    {
      settingsArrived = true
      let waiters = settingsWaiters
      settingsWaiters.removeAll()
      for waiter in waiters { waiter.resume() }
    } else if frame.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
      goingAway = true
    }
  }

  private func dataReceived(_ id: Int32, _ bytes: UnsafeRawBufferPointer) {
    guard let session else { return }
    // The connection's window opens at once: each stream's own window bounds what waits here.
    nghttp2_session_consume_connection(session, bytes.count)
    guard let stream = streams[id] else { return }
    let taken = stream.received(bytes)
    if taken > 0 { nghttp2_session_consume_stream(session, id, taken) }
  }

  private func frameSent(_ frame: nghttp2_frame) {
    guard frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0, let session,
      let stream = streams[frame.hd.stream_id]
    else { return }
    stream.endSent = true
    if stream.resetAfterEnd, nghttp2_session_get_stream_remote_close(session, stream.id) == 0 {
      let code = stream.resetAfterEndCancels ? NGHTTP2_CANCEL : NGHTTP2_NO_ERROR
      nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, UInt32(code.rawValue))
    }
  }

  private func streamClosed(_ id: Int32, errorCode: UInt32) {
    if let timer = lingerTimers.removeValue(forKey: id) { loop.cancel(timer) }
    if let timer = requestTimers.removeValue(forKey: id) { loop.cancel(timer) }
    guard let stream = streams.removeValue(forKey: id) else { return }
    stream.streamClosed(reset: errorCode != NGHTTP2_NO_ERROR.rawValue || !stream.endSent)
    if streams.isEmpty {
      armIdleTimer(goingAway ? .zero : configuration.idleTimeout)
    }
  }
}
