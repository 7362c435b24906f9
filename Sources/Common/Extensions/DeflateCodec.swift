/// Raw DEFLATE (RFC 1951) compression and decompression: what permessage-deflate needs from its platform. The
/// Linux platform implements it with the system zlib.
public protocol DeflateCodec: Sendable {
  /// A compressor with a sliding window of `2^windowBits` bytes (8...15) at `level` (0...9, -1 for the library's
  /// default).
  func makeCompressor(windowBits: Int, level: Int) throws -> any DeflateCompressor
  /// A decompressor for data compressed with a window of at most `2^windowBits` bytes (8...15).
  func makeDecompressor(windowBits: Int) throws -> any DeflateDecompressor
}

/// A DEFLATE compressor whose state (the sliding window) lasts across calls until ``reset()``.
public protocol DeflateCompressor: AnyObject {
  /// Compresses `input` and flushes to a byte boundary with an empty stored block (`Z_SYNC_FLUSH`): the output
  /// ends with `00 00 FF FF`.
  func compressAndSyncFlush(_ input: [UInt8]) throws -> [UInt8]
  /// Forgets the window (no context takeover).
  func reset()
}

/// A DEFLATE decompressor whose window lasts across calls until ``reset()``.
public protocol DeflateDecompressor: AnyObject {
  /// Decompresses `input`, appending to `output`; throws ``DeflateLimitExceeded`` as soon as the output would
  /// exceed `limit` bytes in total, and ``DeflateDataError`` for corrupt data.
  func decompress(_ input: [UInt8], into output: inout [UInt8], limit: Int) throws
  /// Forgets the window (no context takeover).
  func reset()
}

/// Decompressed data exceeded the allowed size (a decompression bomb, or a message too big).
public struct DeflateLimitExceeded: Error, Sendable {
  /// The limit, in bytes.
  public let limit: Int
  /// Creates the error.
  public init(limit: Int) { self.limit = limit }
}

/// The compressed data is not valid DEFLATE.
public struct DeflateDataError: Error, Sendable, CustomStringConvertible {
  /// The library's message.
  public let message: String
  /// Creates the error.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { "invalid compressed data: \(message)" }
}
