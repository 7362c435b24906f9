import Testing
import WispCommon

@Suite("README examples")
struct ReadmeExampleTests {
  @Test("the core example echoes a message and answers a close")
  func coreExample() throws {
    var client = ConnectionStateMachine(configuration: .init(role: .client))
    try client.send(.text("hello"))
    client.close(CloseReason(.normal, "bye"))
    let bytesReadFromSocket = client.takeOutput()

    // The README's example, verbatim.
    var server = ConnectionStateMachine(configuration: .init(role: .server))
    for event in server.receive(bytesReadFromSocket) {
      switch event {
      case .frame(let message): try server.send(message)  // echo every message
      case .closeReceived: server.close(server.closeReplyReason)  // answer the peer's close
      case .ping, .pong, .failed, .closedWithoutCloseFrame: break  // pongs are already queued
      }
    }
    let bytesToWrite = server.takeOutput()  // echoes, pongs and close frames, ready for the socket

    let events = client.receive(bytesToWrite)
    #expect(events == [.frame(.text("hello")), .closeReceived(CloseReason(.normal))])
    #expect(client.state == .closed && server.state == .closed)
  }
}
