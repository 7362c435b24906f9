/// The settings of permessage-deflate (RFC 7692; Ktor's `WebSocketDeflateExtension.Config`), for a client or a
/// server. Every field documents its default.
public struct PerMessageDeflateConfig: Sendable {
  /// The DEFLATE implementation (the Linux platform's zlib when installed through `WebSocketDeflateExtension`).
  public var codec: any DeflateCodec
  /// The client resets its compressor after every message (`client_no_context_takeover`): less memory for the
  /// server's decompressor, worse compression. A client offers it; a server asks for it in its response. Default
  /// `false`.
  public var clientNoContextTakeover = false
  /// The server resets its compressor after every message (`server_no_context_takeover`). Default `false`.
  public var serverNoContextTakeover = false
  /// ``clientNoContextTakeover`` under Ktor's spelling (`clientNoContextTakeOver`).
  public var clientNoContextTakeOver: Bool {
    get { clientNoContextTakeover }
    set { clientNoContextTakeover = newValue }
  }
  /// ``serverNoContextTakeover`` under Ktor's spelling (`serverNoContextTakeOver`).
  public var serverNoContextTakeOver: Bool {
    get { serverNoContextTakeover }
    set { serverNoContextTakeover = newValue }
  }
  /// The largest inflated frame, in bytes (Ktor's `maxInflatedFrameSize`); inflation stops there and the session
  /// closes with 1009, before the excess is allocated. `nil` (default): only the session's `maxMessageSize` (16 MiB)
  /// bounds it, which applies in any case.
  public var maxInflatedFrameSize: Int?
  /// The zlib level: 0 (store) to 9 (best), -1 for zlib's default (6). Default -1.
  public var compressionLevel = -1
  /// The client's LZ77 window, `2^n` bytes for n in 8...15 (`client_max_window_bits`); `nil` (default) leaves it
  /// at 15, while still telling the server that the client understands the parameter.
  public var clientMaxWindowBits: Int?
  /// The server's LZ77 window, 8...15 (`server_max_window_bits`); `nil` (default) for 15.
  public var serverMaxWindowBits: Int?
  /// Predicates a message's first frame must all pass to be compressed (Ktor's `compressIf`). Default none:
  /// every message is compressed.
  public var compressionPredicates: [@Sendable (Frame) -> Bool] = []

  /// Creates settings for `codec`.
  public init(codec: any DeflateCodec) {
    self.codec = codec
  }

  /// Compresses only messages whose first frame passes `predicate` (Ktor's `compressIf { }`).
  public mutating func compressIf(_ predicate: @escaping @Sendable (Frame) -> Bool) {
    compressionPredicates.append(predicate)
  }

  /// Compresses only messages whose first frame carries more than `bytes` bytes (Ktor's `compressIfBiggerThan`):
  /// small messages gain nothing from compression.
  public mutating func compressIfBiggerThan(_ bytes: Int) {
    compressIf { $0.data.count > bytes }
  }
}
