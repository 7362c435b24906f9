/// A source of cryptographically secure random bytes: masking keys (RFC 6455 section 5.3: "The masking key
/// needs to be unpredictable; thus, the masking key MUST be derived from a strong source of entropy") and
/// `Sec-WebSocket-Key` nonces.
///
/// The platform supplies it; tests inject a fixed source to get reproducible bytes.
public protocol SecureRandomSource: Sendable {
  /// Fills `buffer` with random bytes.
  func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension SecureRandomSource {
  /// `count` random bytes.
  public func bytes(_ count: Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      fill(UnsafeMutableRawBufferPointer(buffer))
      initialized = count
    }
  }
}

/// The standard library's `SystemRandomNumberGenerator`: on Linux `getrandom(2)`, elsewhere the system's CSPRNG.
public struct SystemSecureRandom: SecureRandomSource {
  /// Creates the source; it has no state.
  public init() {}

  /// Fills `buffer` from the system CSPRNG, 8 bytes per call.
  public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
    var generator = SystemRandomNumberGenerator()
    var offset = 0
    while offset < buffer.count {
      var word = generator.next()
      let take = min(8, buffer.count - offset)
      withUnsafeBytes(of: &word) { wordBytes in
        for index in 0..<take { buffer[offset + index] = wordBytes[index] }
      }
      offset += take
    }
  }
}

/// Hands out masking keys from a buffer refilled in blocks, so a client does not pay a system call per frame.
package struct MaskingKeyGenerator: Sendable {
  /// Keys fetched per refill: 256 keys (1 KiB) amortize the system call without holding much entropy in memory.
  package static let keysPerRefill = 256

  private let source: any SecureRandomSource
  private var pool: [UInt8] = []
  private var next = 0

  /// Creates a generator drawing from `source`.
  package init(source: any SecureRandomSource = SystemSecureRandom()) {
    self.source = source
  }

  /// The next key; every key is used once.
  /// `count` random bytes straight from the source (ping payloads, for example).
  package func randomBytes(_ count: Int) -> [UInt8] {
    source.bytes(count)
  }

  /// The next masking key.
  package mutating func nextKey() -> MaskingKey {
    if next + 4 > pool.count {
      pool = source.bytes(Self.keysPerRefill * 4)
      next = 0
    }
    defer { next += 4 }
    return MaskingKey(pool[next], pool[next + 1], pool[next + 2], pool[next + 3])
  }
}
