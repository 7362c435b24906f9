import Testing
import WispCommon
import WispLinuxPlatform

/// Inputs that `scripts/fuzz` found to break an invariant, kept as tests once fixed (their files are also in the
/// fuzzer's seed corpus, Fuzz/corpus/).
@Suite("Fuzzing regressions")
struct FuzzRegressionTests {
  /// A client with permessage-deflate, fed `bytes` whole and in pieces of `piece` bytes; returns both event lists.
  static func deflateClientEvents(_ bytes: [UInt8], piece: Int) -> (whole: [ConnectionEvent], split: [ConnectionEvent])
  {
    func machine() -> ConnectionStateMachine {
      let factory = WebSocketDeflateExtension.factory(WebSocketDeflateExtension.defaultConfig())
      let deflate = try! factory.clientAccept(ExtensionOffer(name: "permessage-deflate"))
      return ConnectionStateMachine(
        configuration: .init(role: .client, maxFrameSize: 1024, maxMessageSize: 1024), extensions: [deflate])
    }
    var whole = machine()
    let expected = whole.receive(bytes)
    var split = machine()
    var events: [ConnectionEvent] = []
    var start = 0
    while start < bytes.count {
      events += split.receive(Array(bytes[start..<min(bytes.count, start + piece)]))
      start += piece
    }
    return (expected, events)
  }

  @Test(
    "an uncompressed text message whose continuation frame has RSV1 and invalid UTF-8 fails with 1002 however it is split (fuzz: frames-crash-0301233c)"
  )
  func rsv1ContinuationBeforeUTF8() {
    // Text, FIN clear, empty (uncompressed); then a continuation with RSV1 whose 16 bytes hold 0xA8 (not UTF-8).
    let bytes: [UInt8] = [
      0x01, 0x00, 0x40, 0x10, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x2C, 0x28, 0xA8, 0x28, 0x28, 0x28,
      0x28, 0x28, 0x28, 0x28, 0xEC,
    ]
    for piece in [1, 2, 3, 7, bytes.count] {
      let (whole, split) = Self.deflateClientEvents(bytes, piece: piece)
      #expect(split == whole, "split in pieces of \(piece)")
      guard case .failed(let violation)? = whole.last else {
        Issue.record("must fail: \(whole)")
        return
      }
      #expect(violation.closeCode == .protocolError, "\(violation)")
    }
  }
}
