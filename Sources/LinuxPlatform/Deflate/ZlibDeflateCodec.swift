import CWispZlib
import WispCommon

/// Raw DEFLATE through the system zlib: the Linux actual of Common's `DeflateCodec`.
///
/// zlib's compressor cannot use a 256-byte window (`windowBits` 8 becomes 9, "a request for 8 will result in 9"
/// in zlib.h), which would produce back-references the peer's 256-byte window cannot resolve. For 8 the compressor
/// therefore runs with the `Z_RLE` strategy, whose matches have distance 1 only: valid for any window.
public struct ZlibDeflateCodec: DeflateCodec {
  /// Creates the codec.
  public init() {}

  /// A compressor (memLevel 8, zlib's default).
  public func makeCompressor(windowBits: Int, level: Int) throws -> any DeflateCompressor {
    try ZlibCompressor(windowBits: windowBits, level: level)
  }

  /// A decompressor.
  public func makeDecompressor(windowBits: Int) throws -> any DeflateDecompressor {
    try ZlibDecompressor(windowBits: windowBits)
  }
}

/// A zlib deflate stream; confined to one connection's executor.
final class ZlibCompressor: DeflateCompressor {
  private var stream = z_stream()
  private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

  init(windowBits: Int, level: Int) throws {
    let bits = Int32(max(9, min(15, windowBits)))
    let strategy = windowBits <= 8 ? Z_RLE : Z_DEFAULT_STRATEGY
    let status = wisp_deflateInit2(&stream, Int32(max(-1, min(9, level))), -bits, 8, strategy)
    guard status == Z_OK else { throw DeflateDataError("deflateInit2 failed with \(status)") }
  }

  deinit { deflateEnd(&stream) }

  func compressAndSyncFlush(_ input: [UInt8]) throws -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(input.count / 2 + 16)
    try input.withUnsafeBufferPointer { source in
      stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
      stream.avail_in = UInt32(source.count)
      // Z_SYNC_FLUSH is complete when deflate leaves room in the output buffer (zlib's documented loop).
      repeat {
        let status = scratch.withUnsafeMutableBufferPointer { buffer -> Int32 in
          stream.next_out = buffer.baseAddress
          stream.avail_out = UInt32(buffer.count)
          return deflate(&stream, Z_SYNC_FLUSH)
        }
        guard status == Z_OK || status == Z_BUF_ERROR else { throw DeflateDataError("deflate failed with \(status)") }
        output.append(contentsOf: scratch[0..<(scratch.count - Int(stream.avail_out))])
      } while stream.avail_out == 0
      stream.next_in = nil
    }
    return output
  }

  func reset() { deflateReset(&stream) }
}

/// A zlib inflate stream; confined to one connection's executor.
final class ZlibDecompressor: DeflateDecompressor {
  private var stream = z_stream()
  private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

  init(windowBits: Int) throws {
    let status = wisp_inflateInit2(&stream, -Int32(max(8, min(15, windowBits))))
    guard status == Z_OK else { throw DeflateDataError("inflateInit2 failed with \(status)") }
  }

  deinit { inflateEnd(&stream) }

  func decompress(_ input: [UInt8], into output: inout [UInt8], limit: Int) throws {
    guard !input.isEmpty else { return }
    try input.withUnsafeBufferPointer { source in
      stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
      stream.avail_in = UInt32(source.count)
      defer { stream.next_in = nil }
      while true {
        // Never produce more than one byte past the limit: a bomb is stopped after at most `limit + 1` bytes.
        let room = min(scratch.count, max(1, limit - output.count + 1))
        let status = scratch.withUnsafeMutableBufferPointer { buffer -> Int32 in
          stream.next_out = buffer.baseAddress
          stream.avail_out = UInt32(room)
          return inflate(&stream, Z_SYNC_FLUSH)
        }
        let produced = room - Int(stream.avail_out)
        if output.count + produced > limit { throw DeflateLimitExceeded(limit: limit) }
        output.append(contentsOf: scratch[0..<produced])
        switch status {
        case Z_OK:
          if stream.avail_in == 0 && stream.avail_out > 0 { return }
        case Z_BUF_ERROR:
          // No progress possible: all input consumed (more will come with the next frame).
          if stream.avail_in == 0 { return }
          if produced == 0 { throw DeflateDataError("inflate made no progress") }
        case Z_STREAM_END:
          // A final block (BFINAL) ends the stream; RFC 7692 section 7.2.3.3 allows it: start a new one.
          inflateReset(&stream)
          if stream.avail_in == 0 { return }
        default:
          let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
          throw DeflateDataError(message)
        }
      }
    }
  }

  func reset() { inflateReset(&stream) }
}
