import CWispSystem
import Glibc
import Synchronization
import WispCommon

/// The client's OpenSSL contexts, built once per set of context settings and shared by the connections that use
/// them.
///
/// Building a client context loads its trust store: with the system roots, OpenSSL parses every certificate of the
/// bundle (about 4 ms of CPU and 100 KB of memory per context on the development machine). One context per
/// connection made a client of 1,000 `wss://` sessions spend 4 s of CPU and 100 MB before its first message; the
/// connections now share it (an `SSL_CTX` is safe to share between threads once configured).
///
/// Only what the context holds is in the key (trust roots, client certificate, version floor, whether the
/// certificate is verified, ALPN); what differs per connection (server name, host name check, pins, handshake time
/// limit) is applied to each connection's `SSL` by ``TLSTransport/connect(over:host:configuration:context:)``.
/// A context is built again when a file it loaded changes (its size, modification time or inode: a rotated
/// certificate or CA file is used by the next connection) and at the latest after ``maximumAge`` (the system trust
/// store, which has no one file to watch, is picked up within that time). At most ``capacity`` contexts are kept.
package final class TLSClientContextCache: Sendable {
  /// The cache of the process: the contexts depend only on the settings and the files, not on a client.
  package static let shared = TLSClientContextCache()

  /// How long a context is used before it is built again: 5 minutes, so that an update of the system trust store
  /// reaches a long-running client without a restart, for one context build per 5 minutes.
  package static let maximumAge: Duration = .seconds(300)
  /// How many contexts are kept: 16, far more than the distinct TLS settings of a client; when full, the cache is
  /// emptied (the contexts in use live on with their connections).
  package static let capacity = 16

  private struct Key: Hashable {
    var settings: TLSClientConfiguration
    var offersHTTP2: Bool
    var files: [FileStamp]
  }

  private struct Entry {
    var context: TLSContext
    var built: ContinuousClock.Instant
  }

  private let entries = Mutex<[Key: Entry]>([:])

  package init() {}

  /// The shared context for `configuration`, built when there is none yet (or the files it loaded changed).
  ///
  /// - Throws: `TLSError/invalidConfiguration(_:)` when the context cannot be built (nothing is cached then).
  package func context(for configuration: TLSClientConfiguration, offersHTTP2: Bool) throws(TLSError) -> TLSContext {
    let key = Key(
      settings: Self.contextSettings(of: configuration), offersHTTP2: offersHTTP2,
      files: Self.files(of: configuration).map(FileStamp.init(path:)))
    let now = ContinuousClock.now
    if let entry = entries.withLock({ $0[key] }), now - entry.built < Self.maximumAge {
      return entry.context
    }
    // Built outside the lock (it reads files); two connections racing here build two, and the later one is kept.
    let context = try TLSContext(.client(key.settings), offersHTTP2: offersHTTP2)
    entries.withLock { entries in
      if entries.count >= Self.capacity { entries.removeAll() }
      entries[key] = Entry(context: context, built: now)
    }
    return context
  }

  /// How many contexts are cached (for tests).
  package var count: Int { entries.withLock { $0.count } }

  /// `configuration` with the per-connection fields at their defaults: what the context is built from.
  private static func contextSettings(of configuration: TLSClientConfiguration) -> TLSClientConfiguration {
    var settings = configuration
    let defaults = TLSClientConfiguration()
    settings.serverName = defaults.serverName
    settings.verifiesHostname = defaults.verifiesHostname
    settings.pinnedPublicKeySHA256 = defaults.pinnedPublicKeySHA256
    settings.handshakeTimeout = defaults.handshakeTimeout
    return settings
  }

  /// The files (and CA directory) the context loads.
  private static func files(of configuration: TLSClientConfiguration) -> [String] {
    var files: [String] = []
    switch configuration.trustRoots {
    case .system: break
    case .file(let path), .directory(let path): files.append(path)
    }
    if let chain = configuration.certificateChainFile { files.append(chain) }
    if let key = configuration.privateKeyFile { files.append(key) }
    return files
  }
}

/// What says that a file changed: its device, inode, size and modification time (all zero when it cannot be read,
/// so that the context build reports the error).
private struct FileStamp: Hashable {
  var device: UInt64 = 0
  var inode: UInt64 = 0
  var size: Int64 = 0
  var modifiedSeconds: Int = 0
  var modifiedNanoseconds: Int = 0

  init(path: String) {
    var status = stat()
    guard stat(path, &status) == 0 else { return }
    device = UInt64(status.st_dev)
    inode = UInt64(status.st_ino)
    size = Int64(status.st_size)
    modifiedSeconds = status.st_mtim.tv_sec
    modifiedNanoseconds = status.st_mtim.tv_nsec
  }
}
