import Glibc
import Testing
import WispCommon
import WispLinuxPlatform

/// One group for all platform tests: two loops, as on the 2-core CI machine.
let testGroup: EventLoopGroup = {
  do { return try EventLoopGroup(loopCount: 2) } catch { fatalError("\(error)") }
}()

/// An echo server on a listener: every connection echoes what it reads until EOF, then closes.
func startEchoServer(_ listener: SocketListener) -> Task<Void, Never> {
  Task {
    while true {
      guard let connection = try? await listener.accept() else { return }
      Task(executorPreference: connection.loop) {
        await echo(connection)
      }
    }
  }
}

/// Echoes until EOF or an error, then closes.
func echo(_ connection: SocketTransport) async {
  do {
    while true {
      let bytes = try await connection.read { Array($0) }
      if bytes.isEmpty { break }
      try await connection.write(bytes)
    }
  } catch {}
  await connection.close()
}

/// Sends `payload`, half-closes, reads until EOF; returns what came back. Reading and writing run concurrently so
/// that large payloads do not deadlock on full socket buffers.
func roundTrip(_ connection: SocketTransport, _ payload: [UInt8]) async throws -> [UInt8] {
  try await withTaskExecutorPreference(connection.loop) {
    async let writing: Void = {
      var offset = 0
      while offset < payload.count {
        let end = min(payload.count, offset + 256 * 1024)
        try await connection.write(Array(payload[offset..<end]))
        offset = end
      }
      try await connection.shutdownOutput()
    }()
    var received: [UInt8] = []
    received.reserveCapacity(payload.count)
    while true {
      let count = try await connection.read { bytes in
        received.append(contentsOf: bytes)
        return bytes.count
      }
      if count == 0 { break }
    }
    try await writing
    await connection.close()
    return received
  }
}

/// The number of open file descriptors of this process.
func openDescriptorCount() -> Int {
  guard let directory = opendir("/proc/self/fd") else { return -1 }
  defer { closedir(directory) }
  var count = 0
  while readdir(directory) != nil { count += 1 }
  return count - 3  // ".", ".." and the directory's own descriptor
}

/// Deterministic test bytes.
func pattern(_ count: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
}
