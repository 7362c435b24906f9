import WispCommon

/// The Linux "actuals" for the protocols of `WispCommon`: epoll event loop, POSIX sockets, name resolution, TLS on
/// the system OpenSSL and zlib (issue 3). Until they land, this namespace only names the platform.
public enum LinuxPlatform {
  /// The platform's name, for logs and the capability matrix.
  public static let name = "linux"
}
