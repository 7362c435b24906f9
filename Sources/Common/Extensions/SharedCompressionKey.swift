/// The parameters of a compressor whose output depends on nothing else (a fresh compressor per message): equal keys
/// compress a payload to equal bytes, so fan-out compresses a message once per key.
struct SharedCompressionKey: Hashable, Sendable {
  /// The LZ77 window, in bits (8-15).
  let windowBits: Int
  /// The zlib level (-1: the codec's default).
  let level: Int
  /// The codec's type: two codecs could compress differently.
  let codec: ObjectIdentifier
}
