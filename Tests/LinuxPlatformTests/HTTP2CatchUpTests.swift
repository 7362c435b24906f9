import Glibc
import Testing
import WispCommon

@testable import WispLinuxPlatform

@Suite("An HTTP/2 stream hands over what has arrived on demand")
struct HTTP2CatchUpTests {
  @Test("a stream's DATA is read from the socket, decrypted, unframed and handed over in one call, before the edge")
  func catchUpOverHTTP2() async throws {
    try await SocketCatchUpTests.withTLSPair { serverCarrier, clientCarrier, clientLoop in
      let accepted = AsyncStream.makeStream(of: HTTP2Stream.self)
      let server = try HTTP2Connection(
        carrier: serverCarrier, configuration: HTTP2Configuration(), limits: HTTPHeadLimits(),
        requestTimeout: .seconds(10), offersWebSockets: true
      ) { stream in
        try? stream.connection.accept(stream, status: 200, headers: HTTPHeaders())
        accepted.continuation.yield(stream)
      }
      let serverRun = Task(executorPreference: serverCarrier.loop) { await server.run() }
      let client = try HTTP2Connection(
        clientOver: clientCarrier, configuration: HTTP2Configuration(), limits: HTTPHeadLimits(),
        responseTimeout: .seconds(10))
      let clientRun = Task(executorPreference: clientLoop) { await client.run() }
      let clientStream = try await withTaskExecutorPreference(clientLoop) { () async throws -> HTTP2Stream in
        #expect(await client.waitForSettings(timeout: .seconds(10), limit: nil))
        let request = HTTPRequestHead(method: "CONNECT", target: "/catch-up", headers: ["Host": "localhost"])
        let (stream, response) = try await client.openWebSocket(request, timeout: .seconds(10))
        #expect(response.status == 200)
        return stream
      }

      var streams = accepted.stream.makeAsyncIterator()
      let serverStream = try #require(await streams.next())

      let message = Array("a pong behind other events".utf8)
      // In one job of the server's loop: reading starts (its first delivery is deferred to the next turn), the
      // client's DATA (one TLS record, one write) reaches the server's socket, and one catch-up must take it through
      // TLS and nghttp2 to the stream's handler before the job ends.
      let socket = try #require(serverCarrier.inner as? SocketTransport)
      let delivered = try await serverCarrier.loop.submit { () -> Int in
        let received = CountingReader()
        serverStream.startReading(received.handler, directReader: nil)
        Task(executorPreference: clientLoop) { try? await clientStream.write(message) }
        var readable = pollfd(fd: socket.registration.fd, events: Int16(POLLIN), revents: 0)
        // The loop is held: at most 10 s for the record to reach the kernel.
        for _ in 0..<1000 where poll(&readable, 1, 0) == 0 { usleep(10_000) }
        serverStream.deliverWhatHasArrived()
        return received.total
      }
      #expect(delivered == message.count)

      await withTaskExecutorPreference(clientLoop) { await clientStream.close() }
      await serverStream.close()

      // Both connections end gracefully (GOAWAY) when their tasks are cancelled.
      clientRun.cancel()
      serverRun.cancel()
      await clientRun.value
      await serverRun.value

    }
  }
}
