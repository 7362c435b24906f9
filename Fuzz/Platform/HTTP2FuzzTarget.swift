// The libFuzzer target for the HTTP/2 glue (issue 35). Built by `scripts/fuzz http2` from the sources of WispCommon
// and WispLinuxPlatform as one module (the glue is `package`), with `-sanitize=fuzzer,address`, linked with the
// system's nghttp2, OpenSSL and zlib.
//
//   http2   each input is what a client sends on one connection to a server whose application has a WebSocket
//           route: the first byte says where the rest is split into the carrier's pushes; the bytes go through
//           `HTTP2Connection` (server role) on a real event loop, whose requests are answered as the server's would
//           be (an extended CONNECT accepted with 200 and its DATA echoed back through the stream transport, any
//           other request 404 with a body), and whose output is pulled as a socket would. Whatever the bytes, no trap,
//           no memory error, and the connection ends when the input does.
import Glibc
import Synchronization
import WispCommon

/// A carrier in memory on a real event loop: pushes come from the fuzzer, pulled output is dropped.
final class FuzzCarrier: TLSCarrier, @unchecked Sendable {
  let loop: EventLoop
  var handler: (@Sendable (TransportReadEvent) -> Bool)?
  var source: (@Sendable () -> [UInt8]?)?
  var closed = false
  var written = 0

  init(loop: EventLoop) { self.loop = loop }

  var executor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
  var peerDescription: String { "fuzz" }
  func read<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) async throws -> Result {
    throw TransportError.closed
  }
  func write(_ bytes: [UInt8]) async throws { written += bytes.count }
  func flush() async throws {}
  func startReading(
    _ handler: @escaping @Sendable (TransportReadEvent) -> Bool,
    directReader: (@Sendable (_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int?)?
  ) { self.handler = handler }
  func resumeReading() {}
  /// Nothing arrives later than the fuzzer pushes it.
  func deliverWhatHasArrived() {}
  func setWriteSource(_ source: @escaping @Sendable () -> [UInt8]?) { self.source = source }
  func requestWrite() {}
  func shutdownOutput() async throws {}
  func close() async {
    closed = true
    handler = nil
    source = nil
  }
  func closeImmediately() { closed = true }

  /// What the connection has to send, pulled as the socket would at the end of a turn (bounded).
  func pull() {
    var pieces = 0
    while pieces < 1024, let bytes = source?() {
      written += bytes.count
      pieces += 1
    }
  }
}

/// The loop every input runs on.
let fuzzLoop: EventLoop = {
  guard let loop = try? EventLoop() else { fatalError("no event loop") }
  return loop
}()

/// Runs `body` on the loop and waits for it (the fuzzer's thread is not async).
func onFuzzLoop(_ body: @escaping @Sendable () -> Void) {
  let done = Atomic<Bool>(false)
  fuzzLoop.execute {
    body()
    done.store(true, ordering: .releasing)
  }
  while !done.load(ordering: .acquiring) { usleep(20) }
}

/// An extended CONNECT is accepted and echoed; anything else gets 404.
func answer(_ stream: HTTP2Stream) {
  let connection = stream.connection
  guard stream.headerBlock.method == "CONNECT", stream.headerBlock.connectProtocol != nil else {
    connection.respond(stream, status: 404, headers: ["content-type": "text/plain"], body: Array("no route\n".utf8))
    return
  }
  try? connection.accept(stream, status: 200, headers: [:])
  let echo = Mutex<[[UInt8]]>([])
  stream.setWriteSource { echo.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
  weak let weakStream = stream
  stream.startReading(
    { event in
      let stream = weakStream
      guard case .bytes(let bytes) = event, !bytes.isEmpty else { return false }
      echo.withLock { $0.append(Array(bytes)) }
      stream?.requestWrite()
      // Pause after a large piece, so that the stream's buffering and resume path runs too.
      if bytes.count > 4096 {
        fuzzLoop.execute { stream?.resumeReading() }
        return false
      }
      return true
    }, directReader: nil)
}

func fuzzHTTP2(_ input: [UInt8]) {
  guard let control = input.first else { return }
  let body = Array(input.dropFirst())
  let split = max(1, Int(control) * 3)
  let state = Mutex<(HTTP2Connection?, FuzzCarrier?)>((nil, nil))
  onFuzzLoop {
    let carrier = FuzzCarrier(loop: fuzzLoop)
    guard
      let connection = try? HTTP2Connection(
        carrier: carrier, configuration: HTTP2Configuration(streamWindow: 16 * 1024), limits: HTTPHeadLimits(),
        requestTimeout: .seconds(10), offersWebSockets: true, onRequest: { stream in answer(stream) })
    else { return }
    state.withLock { $0 = (connection, carrier) }
    Task(executorPreference: fuzzLoop) { await connection.run() }
  }
  // The connection's task installs its handler in a job of its own.
  let ready = Atomic<Bool>(false)
  var waited = 0
  while waited < 10_000 {
    onFuzzLoop { ready.store(state.withLock { $0.1?.handler != nil }, ordering: .relaxed) }
    if ready.load(ordering: .relaxed) { break }
    usleep(10)
    waited += 1
  }
  // Half the pieces in one job, the rest in jobs of their own: the loop's jobs (deliveries, resumes) run between.
  let pieces = stride(from: 0, to: body.count, by: split).map { Array(body[$0..<min(body.count, $0 + split)]) }
  let together = pieces.count / 2
  onFuzzLoop {
    guard let carrier = state.withLock({ $0.1 }) else { return }
    for piece in pieces.prefix(together) {
      guard let handler = carrier.handler else { return }
      _ = piece.withUnsafeBytes { handler(.bytes($0)) }
      carrier.pull()
    }
  }
  for piece in pieces.dropFirst(together).prefix(64) {
    onFuzzLoop {
      guard let carrier = state.withLock({ $0.1 }), let handler = carrier.handler else { return }
      _ = piece.withUnsafeBytes { handler(.bytes($0)) }
      carrier.pull()
    }
  }
  onFuzzLoop {
    guard let carrier = state.withLock({ $0.1 }) else { return }
    for piece in pieces.dropFirst(together + 64) {
      guard let handler = carrier.handler else { break }
      _ = piece.withUnsafeBytes { handler(.bytes($0)) }
    }
    carrier.pull()
    _ = carrier.handler?(.endOfStream)
  }
  // Let the loop run what the end scheduled (the connection's task closes the carrier).
  for _ in 0..<3 { onFuzzLoop {} }
  state.withLock { $0 = (nil, nil) }
}
