import Testing
import WispCommon
import WispLinuxPlatform

@Suite("The client's CSPRNGs: OpenSSL's RAND_bytes and getrandom(2)")
struct SecureRandomSourceTests {
  static let sources: [any SecureRandomSource] = [OpenSSLSecureRandom(), GetrandomSecureRandom()]

  @Test("fills every byte of buffers of many sizes, and two fills differ", arguments: sources.indices)
  func fillsWholeBuffers(source index: Int) {
    let source = Self.sources[index]
    for size in [1, 3, 4, 8, 9, 1024, 65_537] {
      // A fill that skipped a byte would leave the 0xAA/0x55 pattern in place: test two fills with two patterns.
      var first = [UInt8](repeating: 0xAA, count: size)
      var second = [UInt8](repeating: 0x55, count: size)
      first.withUnsafeMutableBytes { source.fill($0) }
      second.withUnsafeMutableBytes { source.fill($0) }
      if size >= 8 {
        #expect(first != second, "two fills of \(size) bytes were equal")
        let untouched = zip(first, second).filter { $0 == 0xAA && $1 == 0x55 }.count
        // Each position keeps both patterns with probability 1/65536.
        #expect(untouched <= max(2, size / 4096), "\(untouched) of \(size) bytes were not written")
      }
    }
  }

  @Test("the Linux engine hands OpenSSL's to sessions (masking keys, handshake key)")
  func engineUsesOpenSSL() {
    #expect(LinuxEngine(group: testGroup).secureRandom is OpenSSLSecureRandom)
  }
}
