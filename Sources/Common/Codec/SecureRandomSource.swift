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

/// Hands out masking keys from a buffer refilled in blocks, so a client does not pay a call to its CSPRNG per frame.
///
/// Its state is allocated when the first key is drawn: a server never masks, and an idle session keeps this value
/// for its whole life (memory per idle session, issue 34). Copies share that state, which is confined, with the
/// state machine that holds it, to one connection's executor.
///
/// A client at 64 B draws a key per message, so drawing one is a load and an increment: the keys live in memory of
/// the state's own (not an array in a class, whose every read retained and released the array's buffer) and the
/// cursor is not checked for exclusive access at run time (it is confined to one executor). Under the array version
/// `nextKey` took 4.8 % of the 64 B client's samples, mostly retains, releases and checks (`perf record`, issue 32).
package struct MaskingKeyGenerator: Sendable {
  /// Keys fetched per refill: 256 keys (1 KiB) amortize the source's call (0.8 us for OpenSSL's `RAND_bytes` here)
  /// without holding much entropy in memory; 4 KiB would save 1 ns a key for 3 KiB more per client session
  /// (docs/decisions/0034).
  package static let keysPerRefill = 256

  /// The source and the keys drawn from it (`keys[next..<keysPerRefill]`, not yet used), refilled in place.
  private final class State: @unchecked Sendable {
    let source: any SecureRandomSource
    let keys: UnsafeMutablePointer<UInt32>
    /// The next unused key; `keysPerRefill` when every key was used. Confined to one executor: no run-time check.
    @exclusivity(unchecked) var next = MaskingKeyGenerator.keysPerRefill

    init(source: any SecureRandomSource) {
      self.source = source
      keys = .allocate(capacity: MaskingKeyGenerator.keysPerRefill)
    }

    deinit { keys.deallocate() }

    /// Fills the keys from the source and starts over.
    @inline(never)
    func refill() {
      source.fill(UnsafeMutableRawBufferPointer(start: keys, count: MaskingKeyGenerator.keysPerRefill * 4))
      next = 0
    }
  }

  /// `nil`: the system source, from which nothing was drawn yet.
  private var state: State?

  /// Creates a generator drawing from `source`.
  package init(source: any SecureRandomSource = SystemSecureRandom()) {
    state = source is SystemSecureRandom ? nil : State(source: source)
  }

  /// `count` random bytes straight from the source (ping payloads, for example).
  package func randomBytes(_ count: Int) -> [UInt8] {
    guard let state else { return SystemSecureRandom().bytes(count) }
    return state.source.bytes(count)
  }

  /// The next masking key; every key is used once.
  package mutating func nextKey() -> MaskingKey {
    guard let state, state.next < Self.keysPerRefill else { return nextKeyAfterRefill() }
    return take(from: state)
  }

  /// The first key, or the first of a new block: allocates the state if needed and refills it.
  @inline(never)
  private mutating func nextKeyAfterRefill() -> MaskingKey {
    let state: State
    if let existing = self.state {
      state = existing
    } else {
      state = State(source: SystemSecureRandom())
      self.state = state
    }
    state.refill()
    return take(from: state)
  }

  /// Takes the next key of `state`, which holds one.
  @inline(__always)
  private func take(from state: State) -> MaskingKey {
    let word = state.keys[state.next]
    state.next &+= 1
    // The four bytes in memory order, as the source wrote them.
    return MaskingKey(
      UInt8(truncatingIfNeeded: word.littleEndian), UInt8(truncatingIfNeeded: word.littleEndian >> 8),
      UInt8(truncatingIfNeeded: word.littleEndian >> 16), UInt8(truncatingIfNeeded: word.littleEndian >> 24))
  }
}
