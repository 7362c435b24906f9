import ArgumentParser
import Glibc
import Wisp

/// Output: data on standard output, progress and errors on standard error (unbuffered `write(2)`, safe from any
/// thread).
enum Console {
  /// Writes `line` and a newline to standard output.
  static func out(_ line: String) { write(1, line + "\n") }

  /// Writes `bytes` to standard output as they are.
  static func outBytes(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in
      var offset = 0
      while offset < buffer.count {
        let written = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
        if written <= 0 { return }
        offset += written
      }
    }
  }

  /// Writes `line` and a newline to standard error.
  static func error(_ line: String) { write(2, line + "\n") }

  /// Writes `text` to standard error without a newline (progress lines end with "\r").
  static func progress(_ text: String) { write(2, text) }

  private static func write(_ fd: Int32, _ text: String) {
    var text = text
    text.withUTF8 { bytes in
      var offset = 0
      while offset < bytes.count {
        let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written <= 0 { return }
        offset += written
      }
    }
  }
}

/// `--quiet` and `--verbose`, shared by every subcommand.
struct OutputOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "Print only data and errors.")
  var quiet = false

  @Flag(name: .shortAndLong, help: "Print details: headers, negotiated extensions, every close.")
  var verbose = false

  /// Progress and notes go to standard error unless `--quiet`.
  func note(_ line: String) {
    if !quiet { Console.error(line) }
  }

  /// The level of the log records printed: notices and above with `--quiet` (errors, refusals by policy), info
  /// (sessions opened and closed) by default, everything with `--verbose`.
  var logLevel: Logger.Level { quiet ? .notice : verbose ? .debug : .info }

  /// Details go to standard error with `--verbose`.
  func detail(_ line: String) {
    if verbose && !quiet { Console.error(line) }
  }
}

/// The exit statuses, one per kind of failure, so that scripts can tell them apart.
enum ExitStatus {
  /// Wrong arguments (ArgumentParser's own).
  static let usage: Int32 = 64
  /// The connection was refused, or the host not found or unreachable.
  static let connectFailed: Int32 = 2
  /// TLS failed: untrusted or expired certificate, hostname mismatch, pin mismatch.
  static let tlsFailed: Int32 = 3
  /// The server refused the upgrade (an HTTP status other than 101) or answered a bad handshake.
  static let handshakeRefused: Int32 = 4
  /// The peer closed with a code other than 1000.
  static let remoteClosed: Int32 = 5
  /// Anything else.
  static let failure: Int32 = 1
}

/// The `ws` command's swift-log handler: one line per record (the message, then the metadata with `--verbose`)
/// handed to `write`.
struct ConsoleLogHandler: LogHandler {
  var logLevel: Logger.Level
  var metadata: Logger.Metadata = [:]
  let write: @Sendable (String) -> Void

  init(level: Logger.Level, write: @escaping @Sendable (String) -> Void) {
    self.logLevel = level
    self.write = write
  }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    var line = "\(event.message)"
    if logLevel <= .debug {
      let all = metadata.merging(event.metadata ?? [:]) { $1 }
      if !all.isEmpty {
        line += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
      }
    }
    write(line)
  }
}
